import Foundation
import Logging
import Synchronization
import Testing

@testable import Worker

@Suite struct ConcurrencyBudgetTests {
    /// Every partition has one owner, so the fleet holds the sum over all partitions: it must be the account's limit.
    @Test(arguments: [(10, 3), (10, 12), (1, 6), (4, 4), (7, 50), (10, 1)])
    func thePartitionsHoldExactlyTheAccountsUnitsAtEveryStep(limit: Int, partitions: Int) {
        let budget = ConcurrencyBudget(accountConcurrency: limit, rotation: .seconds(30))
        for step in 0..<(2 * partitions + 3) {
            let total = budget.share(of: 0..<partitions, partitionCount: partitions, step: step)
            #expect(total == limit, "step \(step): \(total) units")
        }
    }

    /// More partitions than units (a personal account has 1): every partition gets a unit within one round.
    @Test(arguments: [(1, 6), (10, 12), (3, 7)])
    func noPartitionStarves(limit: Int, partitions: Int) {
        let budget = ConcurrencyBudget(accountConcurrency: limit, rotation: .seconds(30))
        for partition in 0..<partitions {
            let held = (0..<partitions).map {
                budget.units(onPartition: partition, partitionCount: partitions, step: $0)
            }
            #expect(held.contains { $0 > 0 }, "partition \(partition) never holds a unit: \(held)")
            // A fair share over a round: the limit spread over the partitions.
            #expect(held.reduce(0, +) == limit, "partition \(partition) over a round: \(held)")
        }
    }

    @Test func workersShareByPartitionsAndTheRemainderRotates() {
        let budget = ConcurrencyBudget(accountConcurrency: 10, rotation: .seconds(30))
        // Three workers on 3, 3 and 2 of 8 partitions.
        let workers: [[Int]] = [[0, 1, 2], [3, 4, 5], [6, 7]]
        var seen: [Set<Int>] = Array(repeating: [], count: 3)
        for step in 0..<8 {
            let shares = workers.map { budget.share(of: $0, partitionCount: 8, step: step) }
            #expect(shares.reduce(0, +) == 10)
            for (index, share) in shares.enumerated() { seen[index].insert(share) }
            // 10 units on 8 partitions: each partition holds 1 or 2.
            #expect(shares[0] >= 3 && shares[0] <= 5 && shares[2] >= 2 && shares[2] <= 4, "\(shares)")
        }
        #expect(seen.allSatisfy { $0.count > 1 }, "the two extra units visit every worker: \(seen)")
    }

    @Test func theStepFollowsTheWallClock() {
        let budget = ConcurrencyBudget(accountConcurrency: 1, rotation: .seconds(2))
        let date = Date(timeIntervalSince1970: 1_000_001)
        #expect(budget.step(at: date) == 500_000)
        #expect(budget.nextStep(after: date) == Date(timeIntervalSince1970: 1_000_002))
        #expect(budget.step(at: Date(timeIntervalSince1970: 1_000_002)) == 500_001)
    }

    @Test func aUnitThatChangesOwnerIsUnusedForTheHandoff() {
        // One unit on three partitions, moving every 2 s; the hand-off is 0.5 s.
        let budget = ConcurrencyBudget(accountConcurrency: 1, rotation: .seconds(2))
        #expect(budget.handoff == .milliseconds(500))
        let stepStart = Date(timeIntervalSince1970: 1_000_000)  // step 500,000: the unit on partition 500,000 % 3 = 2
        #expect(budget.units(onPartition: 2, partitionCount: 3, step: 500_000) == 1)
        #expect(budget.limit(of: [2], partitionCount: 3, at: stepStart.addingTimeInterval(0.1)) == 0, "hand-off")
        #expect(budget.limit(of: [2], partitionCount: 3, at: stepStart.addingTimeInterval(0.6)) == 1)
        // The old owner stops at once.
        #expect(budget.limit(of: [1], partitionCount: 3, at: stepStart.addingTimeInterval(0.1)) == 0)
        // A worker that owns both partitions keeps its unit through the step.
        #expect(budget.limit(of: [1, 2], partitionCount: 3, at: stepStart.addingTimeInterval(0.1)) == 1)
        #expect(budget.nextChange(after: stepStart.addingTimeInterval(0.1)) == stepStart.addingTimeInterval(0.5))
        #expect(budget.nextChange(after: stepStart.addingTimeInterval(0.6)) == stepStart.addingTimeInterval(2))
        // Over any instant the fleet (every partition owned by someone) holds at most the account's units.
        let owners: [[Int]] = [[0], [1], [2]]
        for tenth in 0..<60 {
            let date = stepStart.addingTimeInterval(Double(tenth) / 10)
            let total = owners.reduce(0) { $0 + budget.limit(of: $1, partitionCount: 3, at: date) }
            #expect(total <= 1)
        }
    }

    @Test func noPartitionsOrNoLimitHoldNothing() {
        let budget = ConcurrencyBudget(accountConcurrency: 10, rotation: .seconds(1))
        #expect(budget.share(of: [0, 1], partitionCount: 0, step: 3) == 0)
        #expect(budget.share(of: [Int](), partitionCount: 4, step: 3) == 0)
        #expect(
            ConcurrencyBudget(accountConcurrency: 0, rotation: .seconds(1)).units(
                onPartition: 0,
                partitionCount: 1,
                step: 0
            ) == 0
        )
    }
}

@Suite struct AdaptiveLimitTests {
    let start = ContinuousClock.now

    @Test func a429HalvesOncePerCooldownAndSuccessesGrowItBackAdditively() {
        var limit = AdaptiveLimit(ceiling: 10)
        #expect(limit.effective(at: start) == 10)
        let result1 = limit.recordRateLimited(at: start, retryAfter: nil)
        #expect(result1)
        #expect(limit.effective(at: start) == 5)
        // A burst of 429s within the cooldown is one decrease.
        let result2 = limit.recordRateLimited(at: start + .milliseconds(300), retryAfter: nil)
        #expect(!result2)
        #expect(limit.effective(at: start) == 5)
        let result3 = limit.recordRateLimited(at: start + .milliseconds(1100), retryAfter: nil)
        #expect(result3)
        #expect(limit.effective(at: start) == 2)
        // About one more per round of requests.
        var successes = 0
        while limit.effective(at: start) < 10 {
            limit.recordSuccess()
            successes += 1
        }
        #expect(successes > 8 && successes < 60, "\(successes) successes from 2 back to 10")
        limit.recordSuccess()
        #expect(limit.effective(at: start) == 10, "never above the ceiling")
    }

    @Test func neverBelowOne() {
        var limit = AdaptiveLimit(ceiling: 2)
        for index in 0..<10 { limit.recordRateLimited(at: start + .seconds(index * 2), retryAfter: nil) }
        #expect(limit.effective(at: start) == 1)
    }

    @Test func retryAfterPausesEveryRequest() {
        var limit = AdaptiveLimit(ceiling: 4)
        limit.recordRateLimited(at: start, retryAfter: .seconds(3))
        #expect(limit.effective(at: start + .seconds(2)) == 0)
        #expect(limit.effective(at: start + .seconds(3)) == 2)
    }

    @Test func aLowerCeilingCapsTheLimitAndZeroStopsAll() {
        var limit = AdaptiveLimit(ceiling: 10)
        limit.setCeiling(3)
        #expect(limit.effective(at: start) == 3)
        limit.setCeiling(0)
        #expect(limit.effective(at: start) == 0)
        // The budget moved, the account said nothing: a share that comes back applies at once (it grew back one per
        // round of requests before: seconds of an idle account each time the fleet's work moved).
        limit.setCeiling(8)
        #expect(limit.effective(at: start) == 8)
    }

    @Test func onlyA429LowersTheWindowAndItIsHalvedFromWhatWasInForce() {
        var limit = AdaptiveLimit(ceiling: 64)
        limit.setCeiling(10)
        limit.recordRateLimited(at: start, retryAfter: nil)
        #expect(limit.effective(at: start) == 5, "half of the 10 in force, not of the cap of 64")
        limit.setCeiling(3)
        #expect(limit.effective(at: start) == 3)
        limit.setCeiling(10)
        #expect(limit.effective(at: start) == 5, "the window a 429 set stays through budget changes")
        for _ in 0..<200 { limit.recordSuccess() }
        #expect(limit.effective(at: start) == 10, "successes grow it back to the ceiling")
        limit.setCeiling(64)
        #expect(limit.effective(at: start) == 10, "a ceiling raised after a 429 is reached additively")
    }
}

@Suite struct TokenBucketTests {
    let start = ContinuousClock.now

    /// Callers that go whenever the bucket allows: the times they go at.
    func departures(_ bucket: inout TokenBucket, count: Int, cost: Double = 1) -> [Duration] {
        var now = start
        var times: [Duration] = []
        while times.count < count {
            guard let wait = bucket.wait(now: now) else { return times }
            if wait == .zero {
                bucket.take(cost, now: now)
                times.append(now - start)
            } else {
                now += wait
            }
        }
        return times
    }

    @Test func requestsArePacedAtTheRateAfterTheBurst() {
        var bucket = TokenBucket(perMinute: 120, now: start)  // 2 per second, burst 2
        let times = departures(&bucket, count: 7)
        #expect(times == [.zero, .zero, .zero, .milliseconds(500), .seconds(1), .milliseconds(1500), .seconds(2)])
    }

    @Test func aCostLargerThanTheBurstGoesOnceTheDebtIsRepaid() {
        var bucket = TokenBucket(perMinute: 6000, burst: 100, now: start)  // 100 tokens per second
        let times = departures(&bucket, count: 3, cost: 300)
        #expect(times == [.zero, .seconds(2), .seconds(5)])
    }

    @Test func aCorrectionAfterTheAnswerMovesLaterCallers() {
        var bucket = TokenBucket(perMinute: 6000, burst: 100, now: start)
        bucket.take(100, now: start)
        #expect(bucket.wait(now: start) == .zero)
        // The answer used 300 tokens, not 100: 200 of debt, two seconds.
        bucket.adjust(by: 200, now: start)
        #expect(bucket.wait(now: start) == .seconds(2))
        // Less than estimated gives the rest back, up to the burst.
        var other = TokenBucket(perMinute: 6000, burst: 100, now: start)
        other.take(300, now: start)
        other.adjust(by: -1000, now: start)
        #expect(other.wait(now: start) == .zero)
        other.take(101, now: start)
        #expect(other.wait(now: start)! > .zero, "no more than the burst came back")
    }

    @Test func noShareTakesNothing() {
        var bucket = TokenBucket(perMinute: 60, now: start)
        bucket.setRate(perMinute: 0, now: start)
        #expect(bucket.wait(now: start) == nil)
        bucket.setRate(perMinute: 60, now: start + .seconds(1))
        #expect(bucket.wait(now: start + .seconds(1)) == .zero)
    }
}

@Suite struct AccountCircuitTests {
    let start = ContinuousClock.now

    @Test func anAccountFaultOpensAndAProbeClosesIt() {
        var circuit = AccountCircuit()
        #expect(circuit.allowedInFlight == nil)
        let result10 = circuit.recordAccountFault(.paymentRequired, at: start)
        #expect(result10)
        #expect(circuit.allowedInFlight == 0 && circuit.reason == .paymentRequired)
        let result11 = circuit.tick(at: start + .milliseconds(900))
        #expect(!result11)
        let result12 = circuit.tick(at: start + .seconds(1))
        #expect(result12)
        #expect(circuit.allowedInFlight == 1, "one probe")
        let result13 = circuit.recordSuccess(at: start + .seconds(2))
        #expect(result13)
        #expect(circuit.state == .closed)
    }

    @Test func anAnswerToACallSentBeforeTheCircuitOpenedDoesNotCloseIt() {
        var circuit = AccountCircuit()
        circuit.recordAccountFault(.paymentRequired, at: start)
        // Calls that were already running when the balance ran out come back answered.
        for offset in 1...5 {
            let closed = circuit.recordSuccess(at: start + .milliseconds(offset * 50))
            #expect(!closed)
        }
        #expect(circuit.allowedInFlight == 0 && circuit.reason == .paymentRequired)
        // The probe decides.
        circuit.tick(at: start + .seconds(1))
        let closed = circuit.recordSuccess(at: start + .seconds(1) + .milliseconds(300))
        #expect(closed && circuit.state == .closed)
    }

    @Test func aFailedProbeDoublesTheWaitUpToTheMaximum() {
        var circuit = AccountCircuit()
        circuit.maximumBackoff = .seconds(4)
        var now = start
        circuit.recordAccountFault(.forbidden, at: now)
        var waits: [Duration] = []
        for _ in 0..<5 {
            guard case .open(_, let probeAt) = circuit.state else {
                Issue.record("not open: \(circuit.state)")
                return
            }
            waits.append(probeAt - now)
            now = probeAt
            circuit.tick(at: now)
            let result14 = circuit.recordAccountFault(.forbidden, at: now)
            #expect(result14)
        }
        #expect(waits == [.seconds(1), .seconds(2), .seconds(4), .seconds(4), .seconds(4)])
        // A success resets the wait.
        circuit.tick(at: now + .seconds(4))
        circuit.recordSuccess(at: now + .seconds(4))
        circuit.recordAccountFault(.forbidden, at: now + .seconds(5))
        #expect(circuit.state == .open(.forbidden, probeAt: now + .seconds(6)))
    }

    @Test func anOutageNeedsMostCallsOfTheWindowFailing() {
        var circuit = AccountCircuit()
        // Occasional 5xx among successes: no outage.
        for index in 0..<30 {
            let now = start + .milliseconds(index * 100)
            if index % 3 == 0 {
                let opened = circuit.recordServerFailure(at: now)
                #expect(!opened)
            } else {
                circuit.recordSuccess(at: now)
            }
        }
        #expect(circuit.state == .closed)
        // Then every call fails: it opens once failures reach 80% of the window's calls.
        var opened = false
        for index in 0..<200 where !opened {
            opened = circuit.recordServerFailure(at: start + .seconds(3) + .milliseconds(index * 50))
        }
        #expect(opened && circuit.reason == .outage)
    }

    @Test func fewCallsNeverShowAnOutage() {
        var circuit = AccountCircuit()
        for index in 0..<9 { circuit.recordServerFailure(at: start + .milliseconds(index)) }
        #expect(circuit.state == .closed)
        // Old failures leave the window.
        let result15 = circuit.recordServerFailure(at: start + .seconds(20))
        #expect(!result15)
    }

    @Test func aServerFailureOfTheProbeReopens() {
        var circuit = AccountCircuit()
        circuit.recordAccountFault(.paymentRequired, at: start)
        circuit.tick(at: start + .seconds(1))
        let result16 = circuit.recordServerFailure(at: start + .seconds(1))
        #expect(result16)
        #expect(circuit.allowedInFlight == 0)
    }
}

@Suite(.timeLimit(.minutes(1))) struct FlowControllerTests {
    /// Keeps the messages logged, to count them.
    struct RecordingLogHandler: LogHandler {
        final class Store: Sendable {
            let lines = Mutex<[String]>([])
            func count(containing text: String) -> Int { lines.withLock { $0.filter { $0.contains(text) }.count } }
        }

        let store: Store
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            store.lines.withLock { $0.append("\(event.level) \(event.message)") }
        }
    }

    @Test func aLongOutageLogsItsOpeningOnceNotAtEveryFailedProbe() async throws {
        let store = RecordingLogHandler.Store()
        let controller = FlowController(
            settings: FlowController.Settings(
                concurrency: 10,
                accountConcurrency: nil,
                fleetBudget: .demand,
                rotation: .seconds(30),
                adaptive: true,
                requestsPerMinute: nil,
                tokensPerMinute: nil
            ),
            topic: "jobs",
            dispatcher: Dispatcher(limit: 10, perKey: false, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20),
            consumer: ConsumerReference(),
            fleet: nil,
            metrics: WorkerMetrics(),
            logger: Logger(label: "flow") { _ in RecordingLogHandler(store: store) }
        )
        for _ in 0..<10 { controller.afterAttempt(.serverFailure, estimatedTokens: 1) }
        #expect(!controller.circuit.closed)
        #expect(store.count(containing: "circuit opened: outage") == 1)
        // A probe fails (after 1 s): the same cause, not news.
        try await Task.sleep(for: .seconds(1.05))
        controller.update(owned: [0], partitionCount: 1)
        controller.afterAttempt(.serverFailure, estimatedTokens: 1)
        #expect(store.count(containing: "circuit opened") == 1, "\(store.lines.withLock { $0 })")
        // A late answer to a call sent before, while open, changes nothing.
        controller.afterAttempt(.accountFault(.paymentRequired), estimatedTokens: 1)
        controller.afterAttempt(.answered(totalTokens: 10), estimatedTokens: 1)
        #expect(!controller.circuit.closed)
        #expect(store.count(containing: "circuit opened") == 1)
        // The next probe (2 s later) finds another cause: that is news.
        try await Task.sleep(for: .seconds(2.05))
        controller.update(owned: [0], partitionCount: 1)
        controller.afterAttempt(.accountFault(.paymentRequired), estimatedTokens: 1)
        #expect(store.count(containing: "circuit opened: payment_required") == 1, "\(store.lines.withLock { $0 })")
        // The probe after that (4 s) is answered: closed.
        try await Task.sleep(for: .seconds(4.05))
        controller.update(owned: [0], partitionCount: 1)
        controller.afterAttempt(.answered(totalTokens: 10), estimatedTokens: 1)
        #expect(controller.circuit.closed)
        #expect(store.count(containing: "circuit closed") == 1)
    }
}
