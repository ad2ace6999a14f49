import Foundation
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

/// A `kill -9` mid-run under GigaChat faults: nothing is lost, and only what was in flight is answered again
/// (issue 13 §3). On librdkafka's mock cluster, which keeps the offset map committed in the offset's metadata
/// (Tansu 0.6 drops it; the Tansu crash test in ``WorkerFleetTests`` checks that nothing is lost there).
@Suite("Worker crash recovery", .serialized, .timeLimit(.minutes(3)))
struct WorkerCrashRecoveryTests {
    @Test func aKillNineUnderTwentyPercentFaultsReAnswersOnlyTheJobsInFlightAndTheLastCommitInterval() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .milliseconds(100)
        emulator.chunkDelay = .milliseconds(40)
        emulator.chunkCount = 6
        // 20% of calls fail: 429, 500 and 503; each failure is retried.
        emulator.faults.rateLimitedRate = 0.10
        emulator.faults.internalErrorRate = 0.05
        emulator.faults.unavailableRate = 0.05
        try await WorkerTestBed.run(partitions: 3, emulator: emulator, on: .mockCluster) { bed in
            let collector = try bed.collector()
            // Keys hashed to partitions by the producer, as any producer does.
            let jobs = (0..<400).map { TestJob(id: "k-\($0)", prompt: "crash under faults \($0)", stream: $0 % 2 == 0) }
            try await bed.produce(jobs)
            let concurrency = 20
            let commitInterval = 0.2
            let environment = bed.environment([
                "GIGACHAT_WORKER_CONCURRENCY": "\(concurrency)",
                "GIGACHAT_WORKER_RETRY_MAX_ATTEMPTS": "30",
                // Backoffs as in production (seconds, not the bed's milliseconds): a failed job holds its
                // partition's watermark while the jobs behind it finish.
                "GIGACHAT_WORKER_RETRY_INITIAL_BACKOFF": "3s",
                "GIGACHAT_WORKER_RETRY_MAX_BACKOFF": "5s",
            ])
            let first = try WorkerProcess.start(environment: environment)
            let someDone = try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 120 }
            #expect(someDone, "log: \(first.logTail())")
            first.kill(SIGKILL)
            let killedAt = Date()
            _ = await first.wait(timeout: .seconds(10))
            // What the first run answered: everything the collector reads of it from here on was published before
            // the kill (a second later, the last acknowledgements have been read too).
            try await Task.sleep(for: .seconds(1))
            let firstRun = collector.snapshot.completions
            let answeredBeforeCrash = Set(firstRun.map(\.record.id))
            // The last commit interval, and 100 ms for the commit's round trip and the timestamps' granularity.
            let inLastInterval = firstRun.filter {
                ($0.timestamp ?? .distantPast) >= killedAt.addingTimeInterval(-commitInterval - 0.1)
            }.count

            let second = try WorkerProcess.start(environment: environment)
            let all = try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90))
            #expect(all, "log: \(second.logTail())")
            second.kill(SIGTERM)
            #expect(await second.wait(timeout: .seconds(40)) == 0, "log: \(second.logTail())")

            // The restarted worker read the map back (else the bound could hold by luck: no slow job at the kill).
            let log = (FileManager.default.contents(atPath: second.logURL.path)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            #expect(log.contains("Offset map read"), "the restarted worker skipped nothing: \(second.logTail())")
            let byID = Dictionary(grouping: collector.snapshot.completions.map(\.record), by: \.id)
            // Nothing lost: every job has an answer, and every answer is right.
            for job in jobs {
                let records = byID[job.id] ?? []
                #expect(!records.isEmpty && records.allSatisfy { $0.status == .ok }, "\(job.id): \(records.map(\.status))")
                #expect(records.allSatisfy { $0.content == job.expectedContent }, "\(job.id)")
            }
            let duplicates = byID.filter { $0.value.count > 1 }.map(\.key)
            #expect(Set(duplicates).isSubset(of: answeredBeforeCrash))
            print(
                "crash under faults: \(answeredBeforeCrash.count) of \(jobs.count) answered before kill -9, "
                    + "\(duplicates.count) answered twice (bound: \(concurrency) in flight + \(inLastInterval) "
                    + "in the last \(commitInterval) s commit interval + 0.1 s)"
            )
            #expect(
                duplicates.count <= concurrency + inLastInterval,
                "\(duplicates.count) jobs answered twice; the second run's log: \(second.logTail())"
            )
            try await collector.close()
        }
    }
}
