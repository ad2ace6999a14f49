import Foundation
import GigaChatEmulator
import Kafka
import Synchronization
import TestSupport
import Testing
import WireFormat
import Worker

/// The paths real fleets walk and the first tests did not: outputs the producer refuses, a revocation under
/// back-pressure, and an assignment lost while jobs run. Each test failed before its fix (issue 13).
@Suite("Refused outputs, revocations and lost partitions", .serialized, .timeLimit(.minutes(3)))
struct WorkerRefusalAndLossTests {
    /// A job of about 1.1 MB (valid; its `metadata` is echoed in the completion, over librdkafka's default
    /// `message.max.bytes` of 1,000,000, so the worker's producer refuses it at hand-over) and a malformed record of
    /// the same size (its dead letter copies the value), with 20 ordinary jobs behind them on one partition.
    @Test func outputsTheProducerRefusesStillEndTheirJobsAndThePartitionMovesOn() async throws {
        try await WorkerTestBed.run(partitions: 1) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.maxJobBytes = 4 << 20 })
            let large = ["message.max.bytes": "4000000"]
            var big = TestJob(id: "big", prompt: "a large job")
            big.metadata = ["blob": String(repeating: "x", count: 1_100_000)]
            let stored = try await bed.produce([big], properties: large)
            let malformed = try await bed.produceRaw(
                [KafkaProducerRecord(topic: bed.topics.jobs, key: Array("bad".utf8), value: Array(repeating: 0x7B, count: 1_100_000))],
                properties: large
            )
            let jobs = (0..<20).map { TestJob(id: "after-\($0)", prompt: "after \($0)", stream: $0 % 2 == 0) }
            var behind: [KafkaRecordMetadata] = []
            for job in jobs { behind.append(contentsOf: try await bed.produce([job]).values) }

            let ids = Set(jobs.map(\.id) + ["big"])
            #expect(try await collector.waitForCompletions(of: ids, timeout: .seconds(60)))
            #expect(try await collector.wait(timeout: .seconds(20)) { !$0.deadLetters.isEmpty })
            let snapshot = collector.snapshot
            let byID = Dictionary(grouping: snapshot.completions.map(\.record), by: \.id)
            #expect(byID.values.allSatisfy { $0.count == 1 }, "one completion per job")
            let bigCompletion = try #require(byID["big"]?.first)
            #expect(bigCompletion.status == .failed && bigCompletion.error?.code.rawValue == "output_too_large")
            #expect(bigCompletion.metadata == nil && bigCompletion.content == nil)
            for job in jobs { #expect(byID[job.id]?.first?.content == job.expectedContent, "\(job.id)") }
            let deadLetter = try #require(snapshot.deadLetters.first)
            #expect(deadLetter.value == nil)
            #expect(deadLetter.headers.contains { $0.key == DeadLetterRecord.valueOmittedHeader })
            #expect(deadLetter.headers.contains { $0.key == DeadLetterRecord.errorCodeHeader && $0.value == Array("not_json".utf8) })
            // The group's committed offset passes all 22 records.
            let ends = WorkerTestBed.ends(of: Array(stored.values) + malformed + behind)
            #expect(ends == [0: 22])
            #expect(try await bed.waitForCommits(reaching: ends) == ends)
            #expect(worker.service.readiness.ready, "\(worker.service.readiness.reason)")
            try await worker.stop()
            try await collector.close()
        }
    }

    /// Two partitions; a slow backlog on one fills the first worker's buffers (its consumer pauses every
    /// partition), then a second worker joins and takes one of them. Jobs sent afterwards to each partition are
    /// answered: before the fix, when the partition taken away held the whole buffered backlog, the partition kept
    /// stayed paused for ever.
    @Test func aRevocationUnderBackPressureLeavesNoPartitionPaused() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .milliseconds(500)
        try await WorkerTestBed.run(partitions: 2, emulator: emulator) { bed in
            let collector = try bed.collector()
            let member = bed.configuration {
                $0.concurrency = 2
                $0.maxBufferedJobs = 20
                $0.rebalanceDrainTimeout = .seconds(2)
                // The backlog left at the end is read again by nobody: stop without draining it.
                $0.drainTimeout = .seconds(1)
            }
            let first = try bed.startWorker(member)
            #expect(try await waitUntil(timeout: .seconds(30)) { first.service.assignedPartitions.count == 2 })
            // The backlog: 400 slow jobs, all on partition 0 (the one cooperative-sticky moves to the new member).
            let backlog = (0..<400).map { index in
                var job = TestJob(id: "backlog-\(index)", prompt: "backlog \(index)")
                job.partition = 0
                return job
            }
            try await bed.produce(backlog)
            try await Task.sleep(for: .seconds(2))
            let second = try bed.startWorker(member)
            let split = try await waitUntil(timeout: .seconds(30)) {
                first.service.assignedPartitions.count == 1 && second.service.assignedPartitions.count == 1
            }
            #expect(split, "the two workers share the two partitions")
            let kept = try #require(first.service.assignedPartitions.first)
            try #require(kept.partition == 1, "the scenario: the backlog's partition moved, the idle one stayed")
            // Ten new jobs on the partition the first worker kept.
            let fresh = (0..<10).map { index in
                var job = TestJob(id: "fresh-\(index)", prompt: "fresh \(index)")
                job.partition = 1
                return job
            }
            try await bed.produce(fresh)
            let answered = try await collector.waitForCompletions(of: Set(fresh.map(\.id)), timeout: .seconds(45))
            #expect(answered, "\(collector.snapshot.completions.filter { $0.record.id.hasPrefix("fresh") }.count) of 10 fresh jobs answered")
            try await second.stop()
            try await first.stop()
            try await collector.close()
        }
    }

    /// Two 20 s streams running on each worker, the broker frozen for 12 s (past the 6 s session timeout): every
    /// worker's assignment is lost and comes back while the streams still run — with two workers a partition may come
    /// back to the other one. Each job gets exactly one completion, and no job runs twice at once; before the fix the
    /// running streams carried on under the lost ownership, the jobs were read again and run again, and both runs
    /// answered.
    @Test(arguments: [1, 2])
    func jobsOfALostPartitionAreCancelledAndAnsweredOnce(workerCount: Int) async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.chunkDelay = .milliseconds(1000)
        emulator.chunkCount = 20
        try await WorkerTestBed.run(partitions: Int32(workerCount), emulator: emulator) { bed in
            let collector = try bed.collector()
            var workers: [RunningWorker] = []
            for _ in 0..<workerCount { workers.append(try bed.startWorker(bed.configuration { $0.concurrency = 4 })) }
            if workerCount > 1 {
                try await WorkerFlowRun.waitForGroup(workers, partitions: workerCount, accountConcurrency: nil)
            }
            // Two jobs on every partition, so every worker runs two streams when the broker freezes.
            let jobs = (0..<(2 * workerCount)).map { index in
                var job = TestJob(id: "lost-\(index)", prompt: "lost \(index)", stream: true)
                job.partition = Int32(index % workerCount)
                return job
            }
            try await bed.produce(jobs)
            #expect(
                try await waitUntil(timeout: .seconds(30)) { bed.emulator.counters.currentConcurrentChats == jobs.count }
            )
            bed.tansu.freeze()
            try await Task.sleep(for: .seconds(12))
            bed.tansu.thaw()
            let byID = try await Self.completionsOnceStreamsEnd(of: jobs, bed: bed, collector: collector)
            for job in jobs {
                let records = byID[job.id] ?? []
                #expect(records.count == 1, "\(job.id): \(records.count) completions")
                #expect(records.allSatisfy { $0.status == .ok })
                if let record = records.first {
                    let rebuilt = collector.rebuilt(attemptID: record.attemptID ?? "")
                    #expect(rebuilt.complete && rebuilt.text == job.expectedContent)
                }
            }
            // A lost partition's streams stop before its jobs run again (here or on the other worker): never more
            // streams at once than jobs, so the fleet's share of the account holds.
            let peak = bed.emulator.counters.maxConcurrentChats
            #expect(peak <= jobs.count, "\(peak) streams at once for \(jobs.count) jobs")
            print(
                "lost partition, \(workerCount) worker(s): \(bed.emulator.counters.streamCalls) GigaChat streams for "
                    + "\(jobs.count) jobs, at most \(peak) at once"
            )
            for worker in workers { try await worker.stop() }
            try await collector.close()
        }
    }

    /// Defect 6: a record the consumer handed out just before its partition's assignment was lost, registered after
    /// the loss, opened an ownership of its own; when the partition came back, the re-delivered offsets below it
    /// (jobs cancelled with the loss, never committed) were refused as already registered and never answered. Here
    /// the intake is held (a failpoint) on offset 3 while offsets 0–2 stream; the broker freezes past the session
    /// timeout, the assignment is lost, the record is let go, the broker thaws and the partition comes back.
    @Test func aRecordHandedOutJustBeforeItsPartitionIsLostOpensNoOwnership() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.chunkDelay = .milliseconds(1000)
        emulator.chunkCount = 20
        try await WorkerTestBed.run(partitions: 1, emulator: emulator) { bed in
            let collector = try bed.collector()
            let held = Atomic<Bool>(false)
            let released = Atomic<Bool>(false)
            var failpoints = WorkerFailpoints()
            failpoints.beforeRegistering = { _, offset in
                guard offset == 3, !released.load(ordering: .acquiring) else { return }
                held.store(true, ordering: .releasing)
                while !released.load(ordering: .acquiring) { try? await Task.sleep(for: .milliseconds(20)) }
            }
            let worker = try bed.startWorker(bed.configuration { $0.concurrency = 4 }, failpoints: failpoints)
            let jobs = (0..<4).map { TestJob(id: "handed-\($0)", prompt: "handed over \($0)", stream: true) }
            // One at a time, so that their offsets are their indices.
            for job in jobs { try await bed.produce([job]) }
            #expect(
                try await waitUntil(timeout: .seconds(30)) {
                    bed.emulator.counters.currentConcurrentChats == 3 && held.load(ordering: .acquiring)
                }
            )
            bed.tansu.freeze()
            let lost = try await waitUntil(timeout: .seconds(20)) { worker.service.assignedPartitions.isEmpty }
            released.store(true, ordering: .releasing)
            try await Task.sleep(for: .seconds(1))
            bed.tansu.thaw()
            #expect(lost, "the assignment was lost while the broker was frozen")
            let byID = try await Self.completionsOnceStreamsEnd(of: jobs, bed: bed, collector: collector)
            for job in jobs {
                let records = byID[job.id] ?? []
                #expect(records.count == 1 && records.allSatisfy { $0.status == .ok }, "\(job.id): \(records.count) completions")
            }
            try await worker.stop()
            try await collector.close()
        }
    }

    /// Waits for every job's completion, then for every stream GigaChat still runs to end and its answer to have
    /// time to arrive, before answers are counted: the completions by job id.
    static func completionsOnceStreamsEnd(
        of jobs: [TestJob],
        bed: WorkerTestBed,
        collector: OutputCollector
    ) async throws -> [String: [CompletionRecord]] {
        #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
        #expect(try await waitUntil(timeout: .seconds(60)) { bed.emulator.counters.currentConcurrentChats == 0 })
        try await Task.sleep(for: .seconds(3))
        return Dictionary(grouping: collector.snapshot.completions.map(\.record), by: \.id)
    }
}
