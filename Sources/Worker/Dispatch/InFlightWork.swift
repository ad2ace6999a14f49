import Foundation
import Kafka

/// The work this worker has started and not yet finished, by partition: running jobs (until their completion is
/// acknowledged) and dead letters on their way to the broker.
///
/// A revocation waits here, on the consumer's poll thread, until the revoked partitions' work is done or a bound
/// passes, then cancels what is left; shutdown waits the same way for everything. Entries may carry the task
/// running them, so they can be cancelled one by one.
final class InFlightWork: Sendable {
    private struct Token: Hashable, Sendable {
        var id: UInt64
        var partition: KafkaTopicPartition
    }

    private struct Entry {
        var partition: KafkaTopicPartition
        var task: Task<Void, Never>?
        var cancelled = false
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
    }

    // NSCondition rather than Mutex: revocations block on it (poll thread) until work ends.
    private let condition = NSCondition()
    private nonisolated(unsafe) var state = State()

    /// Registers work of `partition`.
    private func begin(_ partition: KafkaTopicPartition) -> Token {
        condition.lock()
        defer { condition.unlock() }
        state.nextID += 1
        state.entries[state.nextID] = Entry(partition: partition)
        return Token(id: state.nextID, partition: partition)
    }

    /// Attaches the task running the work, so that it can be cancelled; cancels it at once if the work was
    /// cancelled before.
    private func attach(_ task: Task<Void, Never>, to token: Token) {
        condition.lock()
        let cancelled = state.entries[token.id]?.cancelled ?? true
        state.entries[token.id]?.task = task
        condition.unlock()
        if cancelled { task.cancel() }
    }

    /// Runs `work` in a task of its own, counted as work of `partition` until it ends (and cancelled with the
    /// partition's work).
    func run(in partition: KafkaTopicPartition, _ work: @escaping @Sendable () async -> Void) {
        let token = begin(partition)
        let task = Task {
            await work()
            self.end(token)
        }
        attach(task, to: token)
    }

    /// Ends the work.
    private func end(_ token: Token) {
        condition.lock()
        state.entries[token.id] = nil
        condition.broadcast()
        condition.unlock()
    }

    /// Work still running, in all partitions or in some.
    func count(in partitions: Set<KafkaTopicPartition>? = nil) -> Int {
        condition.lock()
        defer { condition.unlock() }
        guard let partitions else { return state.entries.count }
        return state.entries.values.filter { partitions.contains($0.partition) }.count
    }

    /// Blocks the calling thread (never a Swift concurrency thread: this is for the consumer's poll thread) until
    /// the work of `partitions` has ended or `timeout` passed.
    /// - Returns: Whether it all ended.
    func waitBlocking(for partitions: Set<KafkaTopicPartition>, timeout: Duration) -> Bool {
        let deadline = Date(timeIntervalSinceNow: timeout.secondsDouble)
        condition.lock()
        defer { condition.unlock() }
        while state.entries.values.contains(where: { partitions.contains($0.partition) }) {
            if !condition.wait(until: deadline) {
                return !state.entries.values.contains(where: { partitions.contains($0.partition) })
            }
        }
        return true
    }

    /// Waits (asynchronously, polling) until all work has ended or `deadline` passed, also in a cancelled task (a
    /// shutdown can run in one).
    /// - Returns: Whether it all ended.
    func waitUntilIdle(until deadline: ContinuousClock.Instant) async -> Bool {
        while count() > 0 {
            guard ContinuousClock.now < deadline else { return false }
            // A sleep of its own: in a cancelled task `Task.sleep` returns at once, and this loop spun a core.
            await Task.detached { try? await Task.sleep(for: .milliseconds(20)) }.value
        }
        return true
    }

    /// Cancels the work of `partitions` (or all); the tasks end soon after and publish nothing more.
    /// - Returns: How many were cancelled.
    @discardableResult
    func cancel(_ partitions: Set<KafkaTopicPartition>? = nil) -> Int {
        condition.lock()
        var tasks: [Task<Void, Never>] = []
        var count = 0
        for (id, entry) in state.entries where partitions?.contains(entry.partition) ?? true {
            state.entries[id]?.cancelled = true
            if let task = entry.task { tasks.append(task) }
            count += 1
        }
        condition.unlock()
        for task in tasks { task.cancel() }
        return count
    }
}
