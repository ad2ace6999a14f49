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
/// in turn: a worker whose partitions hold no unit now gets one later, and none starves. Pure: the caller
/// supplies the time and the assignment.
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
    public func step(at date: Date) -> Int {
        let seconds = max(rotation.secondsDouble, 0.001)
        return Int((date.timeIntervalSince1970 / seconds).rounded(.down))
    }

    /// When the step after the one at `date` begins.
    public func nextStep(after date: Date) -> Date {
        let seconds = max(rotation.secondsDouble, 0.001)
        return Date(timeIntervalSince1970: (Double(step(at: date)) + 1) * seconds)
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
