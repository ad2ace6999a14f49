import Foundation
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

/// Workers coming and going: crashes, graceful stops, groups.
@Suite("Worker crashes, shutdowns and groups", .serialized, .timeLimit(.minutes(3)))
struct WorkerFleetTests {
    static var slowEmulator: GigaChatEmulatorConfiguration {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .milliseconds(200)
        emulator.chunkDelay = .milliseconds(60)
        emulator.chunkCount = 8
        return emulator
    }

    @Test func aKilledWorkersJobsAreAnsweredAfterARestartWithFewDuplicates() async throws {
        try await WorkerTestBed.run(emulator: Self.slowEmulator) { bed in
            let collector = try bed.collector()
            let jobs = (0..<120).map { TestJob(id: "c-\($0)", prompt: "crash \($0)", stream: true) }
            try await bed.produce(jobs)
            let concurrency = 10
            let environment = bed.environment(["GIGACHAT_WORKER_CONCURRENCY": "\(concurrency)"])
            let first = try WorkerProcess.start(environment: environment)
            // Kill it mid-run: some jobs answered, others running.
            let someDone = try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 30 }
            #expect(someDone)
            first.kill(SIGKILL)
            _ = await first.wait(timeout: .seconds(10))
            let answeredBeforeCrash = Set(collector.snapshot.completions.map(\.record.id))

            let second = try WorkerProcess.start(environment: environment)
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
            second.kill(SIGTERM)
            #expect(await second.wait(timeout: .seconds(40)) == 0, "log: \(second.logTail())")

            let snapshot = collector.snapshot
            let byID = Dictionary(grouping: snapshot.completions.map(\.record), by: \.id)
            for job in jobs {
                let records = byID[job.id] ?? []
                #expect(!records.isEmpty && records.allSatisfy { $0.status == .ok })
                // Every completion, also a duplicate, names an attempt whose partials rebuild it.
                for record in records {
                    let rebuilt = collector.rebuilt(attemptID: record.attemptID ?? "")
                    #expect(rebuilt.complete && rebuilt.text == job.expectedContent, "\(job.id)")
                }
            }
            let duplicates = byID.filter { $0.value.count > 1 }.map(\.key)
            #expect(Set(duplicates).isSubset(of: answeredBeforeCrash))
            // Answered but not yet committed when killed: at most the jobs in flight (completed above an
            // unfinished earlier offset) plus those of the last commit interval (200 ms).
            #expect(duplicates.count <= concurrency + 4, "\(duplicates.count) jobs answered twice")
            try await collector.close()
        }
    }

    @Test func sigtermLetsRunningJobsFinishCommitsAndExitsZero() async throws {
        try await WorkerTestBed.run(emulator: Self.slowEmulator) { bed in
            let collector = try bed.collector()
            let jobs = (0..<200).map { TestJob(id: "s-\($0)", prompt: "term \($0)", stream: $0 % 2 == 0) }
            let stored = try await bed.produce(jobs)
            let worker = try WorkerProcess.start(environment: bed.environment(["GIGACHAT_WORKER_CONCURRENCY": "8"]))
            #expect(try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 20 })
            let runningAtSignal = bed.emulator.counters.currentConcurrentChats
            worker.kill(SIGTERM)
            let status = await worker.wait(timeout: .seconds(40))
            #expect(status == 0, "exit status; log: \(worker.logTail())")
            // Every job the worker had started was answered before it exited: their completions are in Kafka
            // (the collector, a consumer like any other, may read the last of them a moment after the exit).
            let started = bed.emulator.counters.chatCalls  // streamed or not
            #expect(runningAtSignal > 0, "jobs were running when the signal came")
            #expect(bed.emulator.counters.completedChats == started, "no call was cut off")
            let allRead = try await collector.wait(timeout: .seconds(15)) { $0.completions.count >= started }
            try await Task.sleep(for: .seconds(1))
            let answered = Set(collector.snapshot.completions.map(\.record.id))
            #expect(allRead && answered.count == started, "every started job completed: \(answered.count) of \(started)")
            #expect(collector.snapshot.completions.count == started, "one completion each, none from after the exit")
            // Offsets were committed for what was answered: a new worker runs only the rest.
            let restarted = try bed.startWorker(bed.configuration())
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
            let byID = Dictionary(grouping: collector.snapshot.completions.map(\.record), by: \.id)
            #expect(byID.values.allSatisfy { $0.count == 1 }, "no job re-run after a graceful stop")
            let ends = WorkerTestBed.ends(of: stored.values)
            #expect(try await bed.waitForCommits(reaching: ends) == ends)
            try await restarted.stop()
            try await collector.close()
        }
    }

    @Test func aBrokerFrozenForFifteenSecondsMidRunLosesNothing() async throws {
        try await WorkerTestBed.run(emulator: Self.slowEmulator) { bed in
            let collector = try bed.collector()
            let jobs = (0..<200).map { TestJob(id: "f-\($0)", prompt: "frozen \($0)", stream: $0 % 2 == 0) }
            let stored = try await bed.produce(jobs)
            let worker = try WorkerProcess.start(environment: bed.environment(["GIGACHAT_WORKER_CONCURRENCY": "8"]))
            #expect(try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 40 })
            // The broker hangs with jobs running, answers waiting for acknowledgements and commits due: longer than
            // the group's session timeout (6 s), so the group may also rebalance when it wakes.
            bed.tansu.freeze()
            try await Task.sleep(for: .seconds(15))
            bed.tansu.thaw()
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(120)))
            #expect(worker.exitStatus == nil, "the worker kept running; log: \(worker.logTail())")
            let byID = Dictionary(grouping: collector.snapshot.completions.map(\.record), by: \.id)
            for job in jobs {
                let records = byID[job.id] ?? []
                #expect(!records.isEmpty && records.allSatisfy { $0.status == .ok }, "\(job.id): \(records)")
                for record in records where job.stream {
                    let rebuilt = collector.rebuilt(attemptID: record.attemptID ?? "")
                    #expect(rebuilt.complete && rebuilt.text == job.expectedContent, "\(job.id)")
                }
            }
            let rerun = byID.values.filter { Set($0.map(\.attemptID)).count > 1 }.count
            print("broker frozen 15 s: \(jobs.count) jobs answered, \(rerun) answered twice")
            // Jobs cancelled with their lost partition publish nothing; what can be answered twice is what was in
            // flight (concurrency 8, answers handed to the producer before the loss) and what was answered but not
            // committed when the broker froze (a 200 ms commit interval).
            #expect(rerun <= 16, "answered twice: \(rerun), bound 2 x concurrency")
            let ends = WorkerTestBed.ends(of: stored.values)
            #expect(try await bed.waitForCommits(reaching: ends, timeout: .seconds(30)) == ends)
            worker.kill(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(40)) == 0, "log: \(worker.logTail())")
            try await collector.close()
        }
    }

    @Test func twoThenThreeWorkersSharePartitionsAndAStoppedOneLosesNothing() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .milliseconds(100)
        try await WorkerTestBed.run(partitions: 6, emulator: emulator) { bed in
            let collector = try bed.collector()
            // Eager rebalancing: with cooperative-sticky, Tansu 0.6.0 left this group unfinished three times in
            // about ten loaded runs once the second member had left (the two others held 3 of the 6 partitions for
            // 120 s, librdkafka's own assignment agreeing, no error), while one run alone always passed. The
            // stopped member is what this test is about; cooperative-sticky (the default) is covered with a stopped
            // worker by WorkerScaleOutTests and a joining one by the flow tests and the Kafka layer's group tests.
            let member = bed.configuration {
                $0.concurrency = 6
                $0.kafka.assignment = .range
            }
            let first = try bed.startWorker(member)
            let second = try bed.startWorker(member)
            var ids: Set<String> = []
            func batch(_ name: String, _ count: Int) async throws {
                let jobs = (0..<count).map { TestJob(id: "\(name)-\($0)", prompt: "\(name) \($0)", stream: $0 % 3 == 0) }
                ids.formUnion(jobs.map(\.id))
                try await bed.produce(jobs)
            }
            try await batch("two", 150)
            #expect(try await collector.waitForCompletions(of: ids, timeout: .seconds(60)))
            let third = try bed.startWorker(member)
            try await batch("three", 300)
            // The three share the six partitions once the group has rebalanced.
            let shared = try await waitUntil(timeout: .seconds(30)) {
                let assignments = [first, second, third].map { Set($0.service.assignedPartitions) }
                return assignments.allSatisfy { !$0.isEmpty }
                    && assignments.reduce(0) { $0 + $1.count } == 6 && Set(assignments.flatMap { $0 }).count == 6
            }
            #expect(shared, "partitions spread over three workers")
            // Stop one worker while jobs are running.
            try await Task.sleep(for: .seconds(2))
            try await second.stop()
            try await batch("after", 150)
            let complete = try await collector.waitForCompletions(of: ids, timeout: .seconds(120))
            let completions = collector.snapshot.completions.map(\.record)
            let missing = ids.subtracting(completions.map(\.id))
            // Which of the group's members held what, and whether GigaChat answered what the collector misses.
            let state = "first \(first.service.assignedPartitions.map(\.partition).sorted()), third "
                + "\(third.service.assignedPartitions.map(\.partition).sorted()); \(missing.count) missing, e.g. "
                + "\(missing.sorted().prefix(5)); GigaChat answered \(bed.emulator.counters.completedChats) calls"
            #expect(complete && missing.isEmpty, "nothing lost: \(state)")
            #expect(completions.allSatisfy { $0.status == .ok })
            #expect(Set(first.service.assignedPartitions).union(third.service.assignedPartitions).count == 6, "\(state)")
            try await first.stop()
            try await third.stop()
            try await collector.close()
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
func waitUntil(timeout: Duration, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return condition()
}
