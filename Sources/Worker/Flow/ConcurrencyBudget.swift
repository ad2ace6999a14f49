import Foundation

/// This worker's share of the account's concurrency limit, from its share of the jobs topic's partitions.
///
/// GigaChat limits streams per account, and the fleet shares one account without a shared store: Kafka's
/// partition assignment already is a fleet-wide lease. The account's `A` units are laid on the `P` partitions —
/// unit `u` sits on partition `(u + step) mod P` — and a worker may run as many requests as its partitions hold
/// units. Every partition has one owner, so the fleet together holds exactly `A` units whatever its size.
///
/// `step` advances every `rotation` (on the wall clock, which all workers share), so when the units do not divide
/// evenly — more partitions than units (a personal account has 1), or a remainder — they visit every partition
/// in turn: a worker whose partitions hold no unit now gets one later, and none starves.
///
/// A unit that moves to another worker at a step is not used by its new owner for the first ``handoff`` of the
/// step, so that the requests its old owner started before the step can end first: a worker's limit during the
/// hand-off is the smaller of its shares before and after the step. Pure: the caller supplies the time and the
/// assignment.
public struct ConcurrencyBudget: Sendable, Hashable {
    /// The account's concurrency limit (`gigachat.account_concurrency`).
    public var accountConcurrency: Int
    /// How long units stay on a partition before they move on (`flow.rotation`).
    public var rotation: Duration

    /// Creates a budget.
    public init(accountConcurrency: Int, rotation: Duration) {
        self.accountConcurrency = max(0, accountConcurrency)
        self.rotation = rotation
    }

    /// The rotation step at `date` (the same on every host with a synchronised clock).
    public func step(at date: Date) -> Int { Self.step(at: date, rotation: rotation) }

    /// The step of a `rotation` at `date`: also what moves the demand budget's remainder (``FleetShare``).
    public static func step(at date: Date, rotation: Duration) -> Int {
        let seconds = max(rotation.secondsDouble, 0.001)
        return Int((date.timeIntervalSince1970 / seconds).rounded(.down))
    }

    /// When the step after the one at `date` begins.
    public func nextStep(after date: Date) -> Date {
        let seconds = max(rotation.secondsDouble, 0.001)
        return Date(timeIntervalSince1970: (Double(step(at: date)) + 1) * seconds)
    }

    /// How long units that changed owner at a step stay unused: a quarter of the rotation, at most 5 s (answers
    /// longer than that can overlap their new owner's first requests; a longer rotation shortens the overlap's
    /// share of time).
    public var handoff: Duration { min(rotation / 4, .seconds(5)) }

    /// The requests the given partitions may have in flight at `date`, hand-off included.
    public func limit(of partitions: some Collection<Int>, partitionCount: Int, at date: Date) -> Int {
        let step = step(at: date)
        let now = share(of: partitions, partitionCount: partitionCount, step: step)
        let stepStart = nextStep(after: date).addingTimeInterval(-max(rotation.secondsDouble, 0.001))
        guard date.timeIntervalSince(stepStart) < handoff.secondsDouble else { return now }
        return min(now, share(of: partitions, partitionCount: partitionCount, step: step - 1))
    }

    /// The next time ``limit(of:partitionCount:at:)`` can change by the clock alone: the end of the hand-off or the
    /// next step.
    public func nextChange(after date: Date) -> Date {
        let next = nextStep(after: date)
        let handoffEnd = next.addingTimeInterval(-max(rotation.secondsDouble, 0.001) + handoff.secondsDouble)
        return handoffEnd > date ? handoffEnd : next
    }

    /// The units partition `partition` holds at `step` (of `partitionCount`).
    public func units(onPartition partition: Int, partitionCount: Int, step: Int) -> Int {
        guard partitionCount > 0, accountConcurrency > 0 else { return 0 }
        // The smallest unit u >= 0 with u ≡ partition - step (mod P); then every P-th one after it.
        let shift = step % partitionCount
        let first = ((partition - shift) % partitionCount + partitionCount) % partitionCount
        guard first < accountConcurrency else { return 0 }
        return (accountConcurrency - 1 - first) / partitionCount + 1
    }

    /// The units the given partitions hold together at `step`.
    public func share(of partitions: some Collection<Int>, partitionCount: Int, step: Int) -> Int {
        partitions.reduce(0) { $0 + units(onPartition: $1, partitionCount: partitionCount, step: step) }
    }
}
