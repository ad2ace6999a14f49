import Foundation
import Kafka
import Logging
import Synchronization

/// Decides how many GigaChat requests this worker may have in flight, and when the next may start: the fleet's
/// concurrency budget (by demand through the fleet topic, ``FleetChannel`` and ``FleetShare``, or laid on the
/// partitions, ``ConcurrencyBudget``), adaptation to 429 (``AdaptiveLimit``), requests and tokens per
/// minute (``TokenBucket``), and the account's circuit (``AccountCircuit``). It sets the ``Dispatcher``'s limit, and
/// pauses the consumer's partitions while the circuit is open.
final class FlowController: Sendable {
    /// The flow settings of a worker.
    struct Settings: Sendable {
        /// This worker's own cap (`concurrency`).
        var concurrency: Int
        /// The account's limit shared by the fleet (`gigachat.account_concurrency`); `nil`: no fleet budget.
        var accountConcurrency: Int?
        /// How the fleet shares the account (`flow.budget`).
        var fleetBudget: WorkerConfiguration.FleetBudget
        /// How long budget units stay on a partition, or a remainder with a member (`flow.rotation`).
        var rotation: Duration
        /// AIMD on 429 (`flow.adaptive`).
        var adaptive: Bool
        /// The account's requests per minute, shared by the fleet (`gigachat.requests_per_minute`).
        var requestsPerMinute: Double?
        /// The account's tokens per minute, shared by the fleet (`gigachat.tokens_per_minute`).
        var tokensPerMinute: Double?
    }

    /// What an attempt came to, for the flow's bookkeeping.
    enum Outcome: Sendable {
        /// An answer (also a permanent error: the API answered); the tokens it used, when known.
        case answered(totalTokens: Int?)
        /// 429.
        case rateLimited(retryAfter: Duration?)
        /// 402, 403, or 401 with a fresh token.
        case accountFault(AccountCircuit.Reason)
        /// 5xx, connection failure, timeout, cut stream.
        case serverFailure
    }

    /// What to tell the consumer about intake, decided under the lock and done outside it.
    private enum IntakeChange {
        case none
        case pauseAssignment
        case resume([KafkaTopicPartition])
    }

    private struct State {
        /// The jobs topic's partitions assigned to this worker, from the consumer's assignment and revocation
        /// hooks (``partitionsAssigned(_:)``, ``partitionsRevoked(_:)``).
        var assigned: Set<Int32> = []
        /// The assignment the limit was last computed for.
        var owned: Set<Int32> = []
        /// Partitions being revoked (their jobs drain), since when: their budget is no longer this worker's.
        var leaving: [Int32: ContinuousClock.Instant] = [:]
        var partitionCount = 0
        var ceiling: Int
        var adaptive: AdaptiveLimit
        var circuit = AccountCircuit()
        var requests: TokenBucket?
        var tokens: TokenBucket?
        var applied: Int?
        var intakePaused = false
        var pausedPartitions: [KafkaTopicPartition] = []
        var lastLimitLog: ContinuousClock.Instant?
        var lastCircuitLog: ContinuousClock.Instant?
        /// Why the fleet budget lets this worker start nothing (its view of the fleet is not complete or current).
        var fleetBlocked: String?
    }

    let settings: Settings
    /// The budget laid on the partitions (`flow.budget: partitions`).
    private let budget: ConcurrencyBudget?
    /// The budget that follows demand (`flow.budget: demand`).
    private let fleet: FleetChannel?
    private let state: Mutex<State>
    /// Held through a whole fleet update (report, share, apply), so that updates never interleave: a share worked
    /// out from an older view is never applied after a report that says this worker read further (a member counts its
    /// rise as announced once the others' reports say they read it, and their limits from then on must leave it).
    private let updating = Mutex(())
    private let dispatcher: Dispatcher
    private let consumer: ConsumerReference
    private let topic: String
    private let metrics: WorkerMetrics
    private let logger: Logger

    init(
        settings: Settings,
        topic: String,
        dispatcher: Dispatcher,
        consumer: ConsumerReference,
        fleet: FleetChannel?,
        metrics: WorkerMetrics,
        logger: Logger
    ) {
        self.settings = settings
        self.budget =
            settings.fleetBudget == .partitions
            ? settings.accountConcurrency.map { ConcurrencyBudget(accountConcurrency: $0, rotation: settings.rotation) }
            : nil
        self.fleet = settings.accountConcurrency == nil ? nil : fleet
        let now = ContinuousClock.now
        // Without a fleet budget the worker's own cap applies at once; with one, nothing until it is known.
        let shared = settings.accountConcurrency != nil
        let ceiling = shared ? 0 : settings.concurrency
        self.state = Mutex(
            State(
                ceiling: ceiling,
                adaptive: AdaptiveLimit(ceiling: settings.concurrency),
                requests: settings.requestsPerMinute.map { TokenBucket(perMinute: $0, now: now) },
                tokens: settings.tokensPerMinute.map { TokenBucket(perMinute: $0, burst: $0 / 60, now: now) }
            )
        )
        self.dispatcher = dispatcher
        self.consumer = consumer
        self.topic = topic
        self.metrics = metrics
        self.logger = logger
        if shared { dispatcher.setLimit(0) }
        // A unit this worker cannot use is reported at once (not at the next tick) when another worker waits for
        // units: the hand-off waits for that report.
        if let fleet = self.fleet {
            dispatcher.onUnitFreed { [weak self] in
                if fleet.handOffWanted(now: .now) { self?.refresh() }
            }
        }
    }

    // MARK: - The loop

    /// Follows the assignment and the clock (rotation, pauses, probes) until cancelled.
    func run() async {
        var knownCount: Int?
        var lastOwned: Set<Int32>?
        while !Task.isCancelled {
            let owned = state.withLock { $0.assigned }
            if budget != nil || settings.requestsPerMinute != nil || settings.tokensPerMinute != nil,
                owned != lastOwned || knownCount == nil
            {
                if let count = try? await consumer.consumer?.partitionCount(of: topic, timeout: .seconds(5)) {
                    knownCount = count
                }
            }
            lastOwned = owned
            let date = Date()
            update(owned: owned, partitionCount: knownCount ?? 0)
            // Every 200 ms (100 ms with the fleet's reports), and exactly when the budget's rotation changes the limit.
            var pause = fleet == nil ? 0.2 : 0.1
            if let budget { pause = min(pause, budget.nextChange(after: date).timeIntervalSince(date) + 0.001) }
            try? await Task.sleep(for: .milliseconds(Int64(max(pause, 0.001) * 1000)))
        }
    }

    /// Called by the consumer's assignment hook: the partitions count from the next tick (at most 200 ms).
    func partitionsAssigned(_ partitions: [KafkaTopicPartition]) {
        let added = partitions.filter { $0.topic == topic }.map(\.partition)
        state.withLock { $0.assigned.formUnion(added) }
    }

    /// Called by the revocation handler once the partitions are given up.
    func partitionsRevoked(_ partitions: [KafkaTopicPartition]) {
        let removed = partitions.filter { $0.topic == topic }.map(\.partition)
        state.withLock { $0.assigned.subtract(removed) }
    }

    /// Called by the revocation handler before the partitions' jobs drain: their budget units pass to the next
    /// owner now, so this worker must not start more requests on them meanwhile.
    func partitionsLeaving(_ partitions: [KafkaTopicPartition]) {
        let leaving = partitions.filter { $0.topic == topic }.map(\.partition)
        guard !leaving.isEmpty else { return }
        let (owned, count) = state.withLock { state in
            let now = ContinuousClock.now
            for partition in leaving { state.leaving[partition] = now }
            return (state.owned, state.partitionCount)
        }
        update(owned: owned, partitionCount: count)
    }

    /// Recomputes the limit now (a fleet report arrived).
    func refresh() {
        let (owned, count) = state.withLock { ($0.owned, $0.partitionCount) }
        update(owned: owned, partitionCount: count)
    }

    /// This worker's share of the account by demand, and why it may start nothing (then the share is 0); reports its
    /// state to the fleet when it changed. `nil` without a demand budget.
    private func fleetShare(now: ContinuousClock.Instant, date: Date) -> FleetChannel.Share? {
        guard let fleet, let units = settings.accountConcurrency else { return nil }
        let load = dispatcher.load
        // The limit in force: with the fleet's budget only an update raises it (AIMD's growth and a closing circuit
        // wait for the next one), so nothing this worker may start goes unreported.
        let applied = state.withLock { $0.applied } ?? 0
        let me = FleetMember(
            id: fleet.settings.memberID,
            // Retries waiting for a slot want one too: left out, a worker whose jobs all wait to retry would report
            // no demand, get no unit, and wait for ever.
            want: min(settings.concurrency, load.running + load.buffered + load.retrying),
            inFlight: load.running,
            limit: applied
        )
        fleet.report(me, now: now)
        let step = ConcurrencyBudget.step(at: date, rotation: settings.rotation)
        // Within 2 s of a rotation boundary (a quarter of a shorter rotation), members whose clocks differ a little
        // are on either side of it.
        let margin = min(2, settings.rotation.secondsDouble / 4)
        let neighbours = [date.addingTimeInterval(-margin), date.addingTimeInterval(margin)]
            .map { ConcurrencyBudget.step(at: $0, rotation: settings.rotation) }
        return fleet.limit(
            of: me,
            units: units,
            step: step,
            otherStep: neighbours.first { $0 != step },
            now: now
        )
    }

    /// Recomputes the limit from the assignment and the time, and applies it.
    /// The clock is read under the update lock: an update that waited for another works with the time it runs at.
    func update(owned: Set<Int32>, partitionCount: Int) {
        typealias Applied = (limit: Int, intake: IntakeChange, log: String?, fleetLog: String?)
        let (share, applied) = updating.withLock { _ -> (FleetChannel.Share?, Applied) in
            let now = ContinuousClock.now
            let date = Date()
            let share = fleetShare(now: now, date: date)
            return (share, applyCeiling(share, owned: owned, partitionCount: partitionCount, now: now, date: date))
        }
        let (limit, intake, log, fleetLog) = applied
        if let fleetLog {
            // Waiting for the first reports is how every worker starts; a view that went stale is news.
            logger.log(
                level: share?.fenced == true ? .warning : .info,
                "Fleet budget \(fleetLog)",
                metadata: ["topic": "\(fleet?.settings.topic ?? "-")"]
            )
        }
        // The dispatcher's limit was set under the lock; every tick records it in the gauge too.
        act(limit: limit, changed: true, intake: intake, log: log)
    }

    /// Sets the ceiling from the fleet's share (or the partitions' budget), brings the rest of the state to `now`, and
    /// sets the dispatcher's limit.
    private func applyCeiling(
        _ fleetShare: FleetChannel.Share?,
        owned: Set<Int32>,
        partitionCount: Int,
        now: ContinuousClock.Instant,
        date: Date
    ) -> (limit: Int, intake: IntakeChange, log: String?, fleetLog: String?) {
        state.withLock { state -> (limit: Int, intake: IntakeChange, log: String?, fleetLog: String?) in
            state.owned = owned
            state.partitionCount = partitionCount
            // A revoked partition stops leaving once it is out of the assignment (or after its drain's bound).
            state.leaving = state.leaving.filter { owned.contains($0.key) && now - $0.value < .seconds(30) }
            let counted = owned.subtracting(state.leaving.keys).filter { $0 < partitionCount }
            var share = 1.0
            if partitionCount > 0 { share = Double(counted.count) / Double(partitionCount) }
            var fleetLog: String?
            if let fleetShare {
                state.ceiling = min(settings.concurrency, fleetShare.limit)
                if fleetShare.blocked != state.fleetBlocked {
                    fleetLog = fleetShare.blocked.map { "starting nothing: \($0)" } ?? "view complete"
                    state.fleetBlocked = fleetShare.blocked
                }
            } else if let budget {
                let units = budget.limit(of: counted.map(Int.init), partitionCount: partitionCount, at: date)
                state.ceiling = min(settings.concurrency, units)
            } else {
                state.ceiling = settings.concurrency
            }
            state.adaptive.setCeiling(state.ceiling)
            if let rpm = settings.requestsPerMinute { state.requests?.setRate(perMinute: rpm * share, now: now) }
            if let tpm = settings.tokensPerMinute { state.tokens?.setRate(perMinute: tpm * share, now: now) }
            state.circuit.tick(at: now)
            let (limit, intake, log) = Self.apply(&state, settings: settings, now: now).0
            // Under the lock, so that concurrent updates (the tick, a fleet report, a revocation, an attempt's end)
            // leave the dispatcher on the limit recorded as applied, which is the one reported to the fleet.
            dispatcher.setLimit(limit)
            return (limit, intake, log, fleetLog)
        }
    }

    /// The limit in force, whether it changed, and what to tell the consumer (outside the lock).
    private static func apply(
        _ state: inout State,
        settings: Settings,
        now: ContinuousClock.Instant,
        mayRaise: Bool = true
    ) -> ((Int, IntakeChange, String?), changed: Bool) {
        var limit = settings.adaptive ? state.adaptive.effective(at: now) : state.ceiling
        if let allowed = state.circuit.allowedInFlight { limit = min(limit, allowed) }
        if !mayRaise, let applied = state.applied { limit = min(limit, applied) }
        var intake = IntakeChange.none
        if state.circuit.state != .closed, !state.intakePaused {
            state.intakePaused = true
            intake = .pauseAssignment
        } else if state.circuit.state == .closed, state.intakePaused {
            intake = .resume(state.pausedPartitions)
            state.intakePaused = false
            state.pausedPartitions = []
        }
        var log: String?
        let changed = state.applied != limit
        if changed {
            let quiet = state.lastLimitLog.map { now - $0 < .seconds(10) } ?? false
            if !quiet || limit == 0 || state.applied == 0 {
                state.lastLimitLog = now
                log = "ceiling \(state.ceiling)" + (settings.adaptive ? ", adaptive \(Int(state.adaptive.limit))" : "")
            }
            state.applied = limit
        }
        return ((limit, intake, log), changed)
    }

    /// Records the limit (when `changed`: attempts end by the thousand a second, most changing nothing) and applies
    /// the intake change.
    private func act(limit: Int, changed: Bool, intake: IntakeChange, log: String?) {
        // The dispatcher's limit was set under the state lock.
        if changed { metrics.concurrencyLimit.record(limit) }
        if let log {
            logger.info("GigaChat concurrency limit", metadata: ["limit": "\(limit)", "basis": "\(log)"])
        }
        switch intake {
        case .none:
            break
        case .pauseAssignment:
            // The poll thread goes on polling (heartbeats, rebalances); partitions assigned later are not paused,
            // but no job starts while the circuit is open (the limit is 0).
            if let consumer = consumer.consumer, let assignment = try? consumer.assignment {
                try? consumer.pause(assignment)
                state.withLock { $0.pausedPartitions = assignment }
            }
        case .resume(let partitions):
            if !partitions.isEmpty { try? consumer.consumer?.resume(partitions) }
        }
    }

    // MARK: - Attempts

    /// Waits until the request and token rates allow an attempt of about `estimatedTokens`, and charges it (or
    /// returns when the task is cancelled). While this worker has no share of a rate (no partitions), it asks again
    /// every 200 ms.
    func beforeAttempt(estimatedTokens: Int) async {
        guard settings.requestsPerMinute != nil || settings.tokensPerMinute != nil else { return }
        while !Task.isCancelled {
            let wait = state.withLock { state -> Duration? in
                let now = ContinuousClock.now
                // Both rates must allow it before either is charged.
                var wait = Duration.zero
                if state.requests != nil {
                    guard let requestsWait = state.requests?.wait(now: now) else { return nil }
                    wait = max(wait, requestsWait)
                }
                if state.tokens != nil {
                    guard let tokensWait = state.tokens?.wait(now: now) else { return nil }
                    wait = max(wait, tokensWait)
                }
                if wait == .zero {
                    state.requests?.take(1, now: now)
                    state.tokens?.take(Double(estimatedTokens), now: now)
                }
                return wait
            }
            guard let wait else {
                try? await Task.sleep(for: .milliseconds(200))
                continue
            }
            if wait == .zero { return }
            // Another caller may take first when the debt is repaid; then this one waits again.
            try? await Task.sleep(for: wait)
        }
    }

    /// Records what an attempt came to.
    /// - Returns: Whether the account's circuit is open now (then the job waits without spending an attempt).
    @discardableResult
    func afterAttempt(_ outcome: Outcome, estimatedTokens: Int) -> Bool {
        let now = ContinuousClock.now
        let (result, limit, changed, intake, log, circuitLog) = state.withLock {
            state -> (Bool, Int, Bool, IntakeChange, String?, String?) in
            var circuitLog: String?
            // A failed probe opens the circuit again for the same reason: not news (the "still open" line comes
            // every 30 s instead), so a long outage does not log a warning at every probe.
            let reasonBefore = state.circuit.reason
            switch outcome {
            case .answered(let total):
                if state.circuit.recordSuccess(at: now) { circuitLog = "closed" }
                if settings.adaptive { state.adaptive.recordSuccess() }
                if let total { state.tokens?.adjust(by: Double(total - estimatedTokens), now: now) }
            case .rateLimited(let retryAfter):
                if state.circuit.recordSuccess(at: now) { circuitLog = "closed" }
                if settings.adaptive { state.adaptive.recordRateLimited(at: now, retryAfter: retryAfter) }
            case .accountFault(let reason):
                if state.circuit.recordAccountFault(reason, at: now), reasonBefore != reason {
                    circuitLog = "opened: \(reason.rawValue)"
                }
            case .serverFailure:
                if state.circuit.recordServerFailure(at: now), reasonBefore != .outage { circuitLog = "opened: outage" }
            }
            if circuitLog == nil, state.circuit.state != .closed,
                state.lastCircuitLog.map({ now - $0 > .seconds(30) }) ?? true
            {
                circuitLog = "still open: \(state.circuit.reason?.rawValue ?? "-")"
            }
            if circuitLog != nil { state.lastCircuitLog = now }
            let open = state.circuit.state != .closed
            // With the fleet's budget a raise waits for the next update, which reports before it raises.
            let ((limit, intake, log), changed) = Self.apply(
                &state,
                settings: settings,
                now: now,
                mayRaise: fleet == nil
            )
            if changed { dispatcher.setLimit(limit) }
            return (open, limit, changed, intake, log, circuitLog)
        }
        if let circuitLog {
            if result {
                logger.warning(
                    "GigaChat account circuit \(circuitLog): no new requests until a probe succeeds",
                    metadata: ["intake": "paused"]
                )
            } else {
                logger.info("GigaChat account circuit \(circuitLog): requests flow again")
            }
            metrics.circuitOpen.record(result ? 1 : 0)
        }
        act(limit: limit, changed: changed, intake: intake, log: log)
        return result
    }

    /// Whether the circuit is closed, and if not, why (for `/readyz`).
    var circuit: (closed: Bool, reason: String?) {
        state.withLock { ($0.circuit.state == .closed, $0.circuit.reason?.rawValue) }
    }

    /// The limit applied last.
    var currentLimit: Int? { state.withLock { $0.applied } }

    /// Why the fleet budget lets this worker start nothing, if it does (for `/readyz`).
    var fleetBlocked: String? { state.withLock { $0.fleetBlocked } }
}
