import Foundation
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

/// One GigaChat account shared by a fleet: the concurrency budget, 429 adaptation, rate limits.
@Suite("One account, many workers: the fleet's budget", .serialized, .timeLimit(.minutes(5)))
struct WorkerFleetBudgetTests {
    /// An emulated account with a stream limit and answers that take `answer`.
    static func account(limit: Int, answer: Duration) -> GigaChatEmulatorConfiguration {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = answer
        emulator.faults.concurrencyLimitPerToken = limit
        return emulator
    }

    @Test func threeWorkersKeepTheAccountsTenStreamsBusyWithFew429s() async throws {
        try await WorkerFlowRun.measure(workers: 3, jobs: 600) { report in
            #expect(report.allOK, "\(report)")
            #expect(report.utilisation >= 0.9, "\(report)")
            #expect(report.rateLimitedShare < 0.05, "\(report)")
        }
    }

    @Test func oneWorkerKeepsTheAccountAsBusy() async throws {
        try await WorkerFlowRun.measure(workers: 1, jobs: 600) { report in
            #expect(report.allOK, "\(report)")
            #expect(report.utilisation >= 0.9, "\(report)")
            #expect(report.rateLimitedShare < 0.05, "\(report)")
        }
    }

    @Test func aFourthWorkerJoiningMidRunDoesNotBringA429Storm() async throws {
        try await WorkerFlowRun.measure(workers: 3, jobs: 600, addWorkerAfter: .seconds(25)) { report in
            #expect(report.allOK, "\(report)")
            #expect(report.addedWorkerPartitions > 0, "the fourth worker got partitions: \(report)")
            #expect(report.rateLimitedShare < 0.05, "\(report)")
        }
    }

    @Test func aPersonalAccountsSingleStreamIsTimeSharedByThreeWorkers() async throws {
        try await WorkerTestBed.run(partitions: 3, emulator: Self.account(limit: 1, answer: .milliseconds(300))) {
            bed in
            let collector = try bed.collector()
            let workers = try (0..<3).map { _ in
                try bed.startWorker(
                    bed.configuration {
                        $0.accountConcurrency = 1
                        $0.budgetRotation = .seconds(2)
                    }
                )
            }
            try await WorkerFlowRun.waitForGroup(workers, partitions: 3, accountConcurrency: nil)
            bed.emulator.resetCounters()
            let jobs = (0..<30).map { TestJob(id: "p-\($0)", prompt: "personal \($0)", partition: Int32($0 % 3)) }
            try await bed.produce(jobs)
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(120)))
            let counters = bed.emulator.counters
            let completions = collector.snapshot.completions.map(\.record)
            #expect(completions.count == jobs.count && completions.allSatisfy { $0.status == .ok })
            let share = Double(counters.rateLimited) / Double(max(1, counters.chatCalls))
            #expect(share < 0.10, "429 share \(share): \(counters.rateLimited) of \(counters.chatCalls) calls")
            for worker in workers { try await worker.stop() }
            try await collector.close()
        }
    }
}

/// The fleet's budget follows the work (`flow.budget: demand`, the default): units go to the workers with jobs.
@Suite("One account, many workers: the budget follows the work", .serialized, .timeLimit(.minutes(5)))
struct WorkerFleetDemandTests {
    /// Two workers, two partitions, an account of 4 streams and 1 s answers.
    static let units = 4

    /// A worker of the pair: the account of `units` streams, a cap of its own well above it.
    static func pair(_ bed: WorkerTestBed) throws -> WorkerConfiguration {
        bed.configuration {
            $0.accountConcurrency = units
            $0.concurrency = 16
        }
    }

    @Test func anIdleWorkersUnitsMoveToABusyOne() async throws {
        // Defect (issue 14): units sat on the partitions. With every job on one worker's partition, that worker ran 2
        // streams of the account's 4 and the other 2 stayed idle for the whole batch.
        let account = WorkerFleetBudgetTests.account(limit: Self.units, answer: .seconds(1))
        try await WorkerTestBed.run(partitions: 2, emulator: account) { bed in
            let collector = try bed.collector()
            let workers = try (0..<2).map { _ in try bed.startWorker(Self.pair(bed)) }
            try await WorkerFlowRun.waitForGroup(workers, partitions: 2, accountConcurrency: Self.units)
            let busy = workers[0]
            let partition = try #require(busy.service.assignedPartitions.first?.partition)
            bed.emulator.resetCounters()
            let jobs = (0..<24).map { TestJob(id: "busy-\($0)", prompt: "one partition \($0)", partition: partition) }
            try await bed.produce(jobs)
            var idleLimits: Set<Int> = []
            let deadline = ContinuousClock.now + .seconds(60)
            while bed.emulator.counters.completedChats < 20, ContinuousClock.now < deadline {
                if bed.emulator.counters.currentConcurrentChats > 0 {
                    idleLimits.insert(workers[1].service.concurrencyLimit ?? -1)
                }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(60)))
            let counters = bed.emulator.counters
            #expect(counters.maxConcurrentChats == Self.units, "the busy worker ran the whole account: \(counters)")
            #expect(counters.rateLimited == 0, "\(counters.rateLimited) calls got 429")
            #expect(idleLimits == [0], "the idle worker held no units: \(idleLimits)")
            #expect(collector.snapshot.completions.allSatisfy { $0.record.status == .ok })
            for worker in workers { try await worker.stop() }
            try await collector.close()
        }
    }

    @Test func aFleetStartedOntoAKeyedBacklogKeepsTheAccountBusyWithinAIMDsOvershoot() async throws {
        // As a user scales out: the backlog exists (keys hashed to partitions, so backlogs differ), then 4 workers
        // start onto it. Measured from the first call to the last answer.
        let account = WorkerFleetBudgetTests.account(limit: Self.units, answer: .seconds(1))
        try await WorkerTestBed.run(partitions: 8, emulator: account) { bed in
            let collector = try bed.collector()
            let jobs = (0..<80).map { TestJob(id: "keyed-\($0)", prompt: "keyed \($0)") }
            try await bed.produce(jobs)
            let workers = try (0..<4).map { _ in try bed.startWorker(Self.pair(bed)) }
            #expect(try await waitUntil(timeout: .seconds(60)) { bed.emulator.counters.chatCalls > 0 })
            let start = ContinuousClock.now
            let busyAtStart = bed.emulator.counters.concurrentChatSeconds
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(120)))
            let seconds = (ContinuousClock.now - start).secondsDouble
            let counters = bed.emulator.counters
            let busy = (counters.concurrentChatSeconds - busyAtStart) / seconds / Double(Self.units)
            print(
                "keyed backlog, 4 workers, 8 partitions, limit \(Self.units): busy \(busy), 429 \(counters.rateLimited) of \(counters.chatCalls)"
            )
            #expect(collector.snapshot.completions.allSatisfy { $0.record.status == .ok })
            // Ideal: 80 one-second answers on 4 streams, 20 s; a loaded machine's group joins and rebalances cost some.
            #expect(busy >= 0.7, "busy share \(busy) over \(seconds) s")
            #expect(
                Double(counters.rateLimited) <= 0.05 * Double(counters.chatCalls),
                "\(counters.rateLimited) of \(counters.chatCalls) calls got 429"
            )
            for worker in workers { try await worker.stop() }
            try await collector.close()
        }
    }

    @Test func aKilledWorkersUnitsReturnWithinTheLease() async throws {
        let account = WorkerFleetBudgetTests.account(limit: Self.units, answer: .seconds(1))
        try await WorkerTestBed.run(partitions: 2, emulator: account) { bed in
            let collector = try bed.collector()
            // Without AIMD: a stray 429 would make the limit in force grow back one per round, hiding the budget's.
            var configuration = try Self.pair(bed)
            configuration.adaptive = false
            let survivor = try bed.startWorker(configuration)
            let doomed = try WorkerProcess.start(
                environment: bed.environment([
                    "GIGACHAT_ACCOUNT_CONCURRENCY": "\(Self.units)", "GIGACHAT_WORKER_CONCURRENCY": "16",
                ])
            )
            defer { doomed.kill(SIGKILL) }
            // Each owns one partition, and the survivor's view of the fleet is complete.
            #expect(
                try await waitUntil(timeout: .seconds(60)) {
                    survivor.service.assignedPartitions.count == 1 && survivor.service.readiness.ready
                }
            )
            let mine = try #require(survivor.service.assignedPartitions.first?.partition)
            let jobs = (0..<80).map {
                TestJob(id: "kill-\($0)", prompt: "kill \($0)", partition: $0 % 2 == 0 ? mine : 1 - mine)
            }
            try await bed.produce(jobs)
            // Both busy: the account split between them.
            #expect(try await waitUntil(timeout: .seconds(30)) { bed.emulator.counters.completedChats >= 8 })
            #expect(
                try await waitUntil(timeout: .seconds(10)) { survivor.service.concurrencyLimit == Self.units / 2 },
                "shared: \(survivor.service.concurrencyLimit ?? -1)"
            )
            doomed.kill(SIGKILL)
            let killed = ContinuousClock.now
            #expect(try await waitUntil(timeout: .seconds(10)) { survivor.service.concurrencyLimit == Self.units })
            let returned = ContinuousClock.now - killed
            // The lease is 3 s from the last report read (a heartbeat at most 1 s before the kill). Without leases the
            // units would not come back at all: the group's rebalance moves partitions, not units.
            #expect(returned < .milliseconds(5_500), "the killed worker's units came back after \(returned)")
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
            #expect(bed.emulator.counters.rateLimited <= 2, "429s: \(bed.emulator.counters.rateLimited)")
            try await survivor.stop()
            try await collector.close()
        }
    }
}

/// Faults of the whole account, and the account's rates.
@Suite("One account, many workers: account faults and rates", .serialized, .timeLimit(.minutes(5)))
struct WorkerAccountFaultTests {
    @Test func aBalanceRunningOutPausesIntakeWithoutFailingJobsAndResumesWhenToppedUp() async throws {
        try await WorkerTestBed.run(emulator: WorkerFleetBudgetTests.account(limit: 10, answer: .milliseconds(300))) {
            bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.accountConcurrency = 10 })
            let jobs = (0..<300).map { TestJob(id: "b-\($0)", prompt: "balance \($0)") }
            try await bed.produce(jobs)
            #expect(try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 60 })
            var faults = bed.emulator.faults
            faults.balanceTokens = 0
            bed.emulator.updateFaults(faults)
            // Within a second only the calls already running end; then only probes go out.
            try await Task.sleep(for: .seconds(1))
            let callsAfterOneSecond = bed.emulator.counters.chatCalls
            #expect(worker.service.readiness.ready == false, "not ready while the circuit is open")
            try await Task.sleep(for: .seconds(19))
            let probes = bed.emulator.counters.chatCalls - callsAfterOneSecond
            #expect(probes <= 8, "\(probes) calls in the 19 s without a balance: only probes")
            #expect(bed.emulator.counters.paymentRequired >= 1)
            let completedBefore = bed.emulator.counters.completedChats
            faults.balanceTokens = nil
            bed.emulator.updateFaults(faults)
            let restored = ContinuousClock.now
            while bed.emulator.counters.completedChats == completedBefore, ContinuousClock.now - restored < .seconds(15)
            {
                try await Task.sleep(for: .milliseconds(50))
            }
            let resumedAfter = ContinuousClock.now - restored
            #expect(resumedAfter < .seconds(6), "resumed \(resumedAfter) after the top-up")
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
            let failed = collector.snapshot.completions.map(\.record).filter { $0.status != .ok }
            #expect(failed.isEmpty, "failed: \(failed.prefix(3))")
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func jobsWaitingWhileTheCircuitIsOpenEndAtTheirOwnDeadline() async throws {
        // Defect: a job held in the buffer while the account's circuit was open was not ended at its deadline: the
        // circuit's probes go to the jobs already retrying (retries get slots first), so a job behind them waited
        // until the account came back, long past its deadline.
        try await WorkerTestBed.run(
            partitions: 1,
            emulator: WorkerFleetBudgetTests.account(limit: 2, answer: .seconds(1))
        ) { bed in
            let collector = try bed.collector()
            // Four jobs without a deadline, then twenty with one, in this order on the one partition: a backlog the
            // worker starts onto.
            let open = (0..<4).map { TestJob(id: "n-\($0)", prompt: "no deadline \($0)") }
            let deadline = Date().addingTimeInterval(20)
            let dated = (0..<20).map { index in
                var job = TestJob(id: "d-\(index)", prompt: "deadline \(index)")
                job.deadline = deadline
                return job
            }
            for job in open + dated { try await bed.produce([job]) }
            let worker = try bed.startWorker(
                bed.configuration {
                    $0.accountConcurrency = 2
                    $0.concurrency = 2
                }
            )
            // Two run, the rest wait in the buffer; then the balance runs out, the next two get 402 and the circuit
            // opens with them retrying. Every job must be in the worker first: an open circuit pauses the
            // partition, and a job still on the broker is not the worker's to end (it is answered
            // `deadline_exceeded` when the account is back and the worker reads it). Seen in CI twice on a loaded
            // machine before the wait: 19 of 20 ended, the twentieth not yet read when the circuit opened.
            #expect(
                try await waitUntil(timeout: .seconds(30)) {
                    let load = worker.service.load
                    return load.running + load.buffered + collector.snapshot.completions.count >= 24
                }
            )
            #expect(try await waitUntil(timeout: .seconds(30)) { bed.emulator.counters.chatCalls >= 2 })
            var faults = bed.emulator.faults
            faults.balanceTokens = 0
            bed.emulator.updateFaults(faults)
            // Else the jobs could reach their deadline before the circuit opens, and pass without it.
            try #require(
                Date() < deadline.addingTimeInterval(-4),
                "the machine was too slow to open the circuit in time"
            )
            // Their deadline is 20 s after they were produced. The window is wider than that for a loaded machine: a
            // stall past the 6 s session timeout loses the assignment (the held jobs are dropped, the partition is
            // read again once the group has settled, ~10 s) — seen once in CI with every suite running at once.
            // Without the fix the jobs wait for the account, which comes back only after this wait.
            let ended = try await collector.waitForCompletions(of: Set(dated.map(\.id)), timeout: .seconds(50))
            let records = collector.snapshot.completions.map(\.record).filter { $0.id.hasPrefix("d-") }
            #expect(ended, "\(records.count) of 20 ended")
            // A few may have run before the balance ran out; the ones still waiting end without a call.
            let summary = "\(records.map { ($0.error?.code.rawValue ?? "ok", $0.attempts) })"
            #expect(
                records.allSatisfy { $0.status == .ok || $0.error?.code.rawValue == "deadline_exceeded" },
                "\(summary)"
            )
            #expect(
                records.filter { $0.error?.code.rawValue == "deadline_exceeded" && $0.attempts == 0 }.count >= 14,
                "\(summary)"
            )
            faults.balanceTokens = nil
            bed.emulator.updateFaults(faults)
            #expect(try await collector.waitForCompletions(of: Set(open.map(\.id)), timeout: .seconds(30)))
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func aThirtySecondOutageFailsNoJobAndExhaustsNoAttempts() async throws {
        try await WorkerTestBed.run(emulator: WorkerFleetBudgetTests.account(limit: 10, answer: .milliseconds(200))) {
            bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(
                bed.configuration {
                    $0.accountConcurrency = 10
                    $0.maxAttempts = 10
                    // Half the outage: time spent waiting for the account is not the jobs' own time.
                    $0.jobTimeout = .seconds(15)
                }
            )
            let jobs = (0..<300).map { TestJob(id: "o-\($0)", prompt: "outage \($0)", stream: $0 % 2 == 0) }
            try await bed.produce(jobs)
            #expect(try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 50 })
            var faults = bed.emulator.faults
            faults.outage = true
            bed.emulator.updateFaults(faults)
            try await Task.sleep(for: .seconds(30))
            let failedDuringOutage = collector.snapshot.completions.filter { $0.record.status != .ok }.count
            #expect(failedDuringOutage == 0)
            faults.outage = false
            bed.emulator.updateFaults(faults)
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
            let completions = collector.snapshot.completions.map(\.record)
            #expect(completions.allSatisfy { $0.status == .ok }, "\(completions.filter { $0.status != .ok }.prefix(3))")
            #expect(bed.emulator.counters.injectedErrors > 0, "the outage hit running work")
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func aRequestsPerMinuteBudgetIsKeptByTheFleet() async throws {
        try await WorkerTestBed.run(partitions: 4) { bed in
            let collector = try bed.collector()
            let workers = try (0..<2).map { _ in
                try bed.startWorker(bed.configuration { $0.requestsPerMinute = 120 })
            }
            try await WorkerFlowRun.waitForGroup(workers, partitions: 4, accountConcurrency: nil)
            let jobs = (0..<75).map { TestJob(id: "r-\($0)", prompt: "rate \($0)", partition: Int32($0 % 4)) }
            bed.emulator.resetCounters()
            try await bed.produce(jobs)
            let calls = try await WorkerFlowRun.sample(every: .milliseconds(20), for: .seconds(31)) {
                Double(bed.emulator.counters.chatCalls)
            }
            // Calls in the 30 s after the first one.
            guard let first = calls.first(where: { $0.value >= 1 }) else {
                Issue.record("no chat call")
                return
            }
            let inWindow = (calls.last { $0.time <= first.time + .seconds(30) }?.value ?? 0)
            let perMinute = inWindow * 2
            #expect(abs(perMinute - 120) <= 12, "\(perMinute) requests per minute")
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(60)))
            for worker in workers { try await worker.stop() }
            try await collector.close()
        }
    }

    @Test func aTokensPerMinuteBudgetCountsThePromptAndCorrectsWithTheAnswer() async throws {
        try await WorkerTestBed.run(partitions: 2) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.tokensPerMinute = 12_000 })
            // 100 words a prompt: the worker estimates 125 tokens from its bytes; the answer uses about 206.
            let words = (0..<100).map { "word\($0 % 10)" }.joined(separator: " ")
            let jobs = (0..<45).map { TestJob(id: "t-\($0)", prompt: "\($0) \(words)") }
            try await bed.produce(jobs)
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(90)))
            let completions = collector.snapshot.completions
            let times = completions.compactMap(\.timestamp).sorted()
            guard let first = times.first else {
                Issue.record("no timestamps")
                return
            }
            // Tokens of the answers that ended within 30 s after the first.
            let tokens = completions.filter { ($0.timestamp ?? first) < first.addingTimeInterval(30) }
                .reduce(0) { $0 + ($1.record.usage?.totalTokens ?? 0) }
            let perMinute = Double(tokens) * 2
            #expect(abs(perMinute - 12_000) <= 1_200, "\(perMinute) tokens per minute")
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func aStalledTokenEndpointDelaysNoJobWhileTheTokenIsValid() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.tokenLifetime = .seconds(80)
        emulator.timeToFirstToken = .milliseconds(100)
        try await WorkerTestBed.run(emulator: emulator) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(
                bed.configuration { $0.gigachat.tokenExpiryBuffer = .seconds(60) }
            )
            // The first token is fetched at start; from now on every OAuth answer takes 30 s.
            #expect(try await collector.wait(timeout: .seconds(30)) { _ in worker.service.readiness.ready })
            var faults = bed.emulator.faults
            faults.oauthDelay = .seconds(30)
            bed.emulator.updateFaults(faults)
            // Jobs arrive through the refresh (due at 40 s, stalled until 70 s): 4 a second for 75 s.
            var jobs: [TestJob] = []
            var callsDuringTheStall: Int?
            for second in 0..<75 {
                let batch = (0..<4).map { TestJob(id: "k-\(second)-\($0)", prompt: "stall \(second) \($0)") }
                jobs += batch
                try await bed.produce(batch)
                try await Task.sleep(for: .seconds(1))
                // 60 s or more in (later on a loaded machine): the stalled refresh began at 40 s and the next one is
                // due 40 s after the refreshed token's issue, so there have been exactly two calls.
                if second == 60 { callsDuringTheStall = bed.emulator.counters.oauthCalls }
            }
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(30)))
            let completions = collector.snapshot.completions.map(\.record)
            #expect(completions.allSatisfy { $0.status == .ok })
            let slowest = completions.map(\.latencyMilliseconds).max() ?? 0
            #expect(slowest < 3_000, "the slowest job took \(slowest) ms")
            #expect(callsDuringTheStall == 2, "the first token and one refresh, however long it stalls")
            // A run slowed past 80 s may see the next, ordinary refresh.
            #expect(bed.emulator.counters.oauthCalls <= 3)
            #expect(bed.emulator.counters.rejectedExpired == 0)
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func aRejectedKeyAtStartupExitsWithOneClearLineAndNoSecret() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.authorizationKeys = [Data("the-only:valid-key".utf8).base64EncodedString()]
        try await WorkerTestBed.run(emulator: emulator) { bed in
            let worker = try WorkerProcess.start(environment: bed.environment(["GIGACHAT_WORKER_LOG_LEVEL": "error"]))
            let status = await worker.wait(timeout: .seconds(30))
            #expect(status != nil && status != 0, "exit status \(String(describing: status))")
            let log = worker.logTail(lines: 200)
            let errorLines = log.split(separator: "\n").filter { $0.hasPrefix("error:") }
            #expect(errorLines.count == 1, "\(log)")
            #expect(errorLines.first?.contains("rejected the credentials") == true, "\(log)")
            let secret = String(decoding: Data(base64Encoded: bed.credentials) ?? Data(), as: UTF8.self)
            #expect(!log.contains(bed.credentials) && !log.contains(secret.split(separator: ":").last ?? "-"), "\(log)")
        }
    }
}

/// A measured run of a fleet against one account of 10 streams and 1 s answers.
enum WorkerFlowRun {
    struct Report: CustomStringConvertible {
        var jobs: Int
        var seconds: Double
        var busyStreamSeconds: Double
        var chatCalls: Int
        var rateLimited: Int
        var allOK: Bool
        var addedWorkerPartitions: Int

        /// Busy streams over the account's limit, averaged over the run.
        var utilisation: Double { busyStreamSeconds / seconds / 10 }
        var rateLimitedShare: Double { Double(rateLimited) / Double(max(1, chatCalls)) }
        var description: String {
            String(
                format: "%d jobs in %.1f s (%.2f jobs/s), utilisation %.3f, 429 %d of %d calls (%.3f)",
                jobs,
                seconds,
                Double(jobs) / seconds,
                utilisation,
                rateLimited,
                chatCalls,
                rateLimitedShare
            )
        }
    }

    static func measure(
        workers count: Int,
        jobs jobCount: Int,
        addWorkerAfter: Duration? = nil,
        _ check: (Report) throws -> Void
    ) async throws {
        let emulator = WorkerFleetBudgetTests.account(limit: 10, answer: .seconds(1))
        try await WorkerTestBed.run(partitions: 10, emulator: emulator) { bed in
            let collector = try bed.collector()
            let configuration = bed.configuration { $0.accountConcurrency = 10 }
            var workers = try (0..<count).map { _ in try bed.startWorker(configuration) }
            try await waitForGroup(workers, partitions: 10, accountConcurrency: 10)
            let jobs = (0..<jobCount).map {
                TestJob(id: "f-\($0)", prompt: "fleet \($0)", partition: Int32($0 % 10))
            }
            bed.emulator.resetCounters()
            let start = ContinuousClock.now
            try await bed.produce(jobs)
            var addedPartitions = 0
            if let addWorkerAfter {
                try await Task.sleep(until: start + addWorkerAfter, clock: .continuous)
                let added = try bed.startWorker(configuration)
                workers.append(added)
                _ = try await collector.wait(timeout: .seconds(30)) { _ in !added.service.assignedPartitions.isEmpty }
                addedPartitions = added.service.assignedPartitions.count
            }
            let ids = Set(jobs.map(\.id))
            var end = ContinuousClock.now
            while bed.emulator.counters.completedChats < jobCount, ContinuousClock.now - start < .seconds(200) {
                try await Task.sleep(for: .milliseconds(20))
                end = .now
            }
            let counters = bed.emulator.counters
            #expect(try await collector.waitForCompletions(of: ids, timeout: .seconds(60)))
            let completions = collector.snapshot.completions.map(\.record)
            let report = Report(
                jobs: jobCount,
                seconds: (end - start).secondsDouble,
                busyStreamSeconds: counters.concurrentChatSeconds,
                chatCalls: counters.chatCalls,
                rateLimited: counters.rateLimited,
                allOK: Set(completions.map(\.id)) == ids && completions.allSatisfy { $0.status == .ok },
                addedWorkerPartitions: addedPartitions
            )
            print("fleet of \(count)\(addWorkerAfter == nil ? "" : "+1"): \(report)")
            try check(report)
            for worker in workers { try await worker.stop() }
            try await collector.close()
        }
    }

    /// Waits until the workers own every partition between them, each some, and (with a budget) each is ready: its
    /// view of the fleet is complete. (Idle, they hold no units: the budget follows the work.)
    static func waitForGroup(_ workers: [RunningWorker], partitions: Int, accountConcurrency: Int?) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            let owned = workers.map(\.service.assignedPartitions.count)
            if owned.reduce(0, +) == partitions, owned.allSatisfy({ $0 > 0 }),
                accountConcurrency == nil || workers.allSatisfy({ $0.service.readiness.ready })
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw HarnessError("the group did not settle: \(workers.map(\.service.assignedPartitions.count))")
    }

    /// Samples `value` every `interval` for `duration`.
    static func sample(
        every interval: Duration,
        for duration: Duration,
        _ value: () -> Double
    ) async throws -> [(time: ContinuousClock.Instant, value: Double)] {
        let end = ContinuousClock.now + duration
        var samples: [(time: ContinuousClock.Instant, value: Double)] = []
        while ContinuousClock.now < end {
            samples.append((.now, value()))
            try await Task.sleep(for: interval)
        }
        return samples
    }
}
