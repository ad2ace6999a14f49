import Foundation
import GigaChat
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

/// Embeddings jobs end to end: the same path as chat jobs, vectors in the completion.
@Suite("Embeddings jobs against Tansu and the emulator", .serialized, .timeLimit(.minutes(3)))
struct WorkerEmbeddingsTests {
    @Test func aThousandEmbeddingsJobsGetTheVectorsOfTheirTextsInOrder() async throws {
        try await WorkerTestBed.run(partitions: 4) { bed in
            var jobs: [TestJob] = []
            for index in 0..<1000 {
                var job = TestJob(id: "embed-\(index)", prompt: "")
                job.embeddingsInput =
                    index % 10 == 0 ? ["Документ \(index)", "second text \(index)"] : ["text \(index)"]
                jobs.append(job)
            }
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.concurrency = 32 })
            let stored = try await bed.produce(jobs)
            let done = try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(120))
            #expect(done)
            let byID = Dictionary(grouping: collector.snapshot.completions, by: \.record.id)
            #expect(byID.count == 1000 && byID.values.allSatisfy { $0.count == 1 }, "one completion per job")
            for job in jobs {
                guard let record = byID[job.id]?.first?.record, let input = job.embeddingsInput else { continue }
                #expect(record.status == .ok, "\(job.id): \(String(describing: record.error))")
                let vectors = try #require(record.embeddings, "\(job.id) has vectors")
                #expect(vectors.count == input.count)
                #expect(
                    vectors.allSatisfy { $0.count == GigaChatEmulator.embeddingDimensions },
                    "the model's dimension"
                )
                // At float precision, as the completion carries them.
                let expected = input.map { GigaChatEmulator.embedding(of: $0).map(Float.init) }
                #expect(vectors.map { $0.map(Float.init) } == expected, "\(job.id): each text's own vector, in order")
                #expect(record.model == "Embeddings" && record.content == nil)
                let tokens = input.reduce(0) { $0 + GigaChatEmulator.tokenCount(of: $1) }
                #expect(record.usage == ChatUsage(promptTokens: tokens, completionTokens: 0, totalTokens: tokens))
            }
            #expect(collector.snapshot.partials.isEmpty, "embeddings are not streamed")
            let ends = WorkerTestBed.ends(of: stored.values)
            #expect(try await bed.waitForCommits(reaching: ends) == ends)
            try await worker.stop()
            try await collector.close()
        }
    }
}
