import Synchronization

/// Cancels attempts whose job deadline has passed: each attempt runs in a task of its own, and one sweeper checks
/// them all every `interval` (100 ms).
///
/// Giving the client the deadline instead would race every body read against the clock (a task per read), and a
/// timer per attempt costs an event-loop wake-up per job; one sweep over the running attempts (at most the
/// concurrency) is cheaper. Deadlines are met within the interval.
final class AttemptDeadlines: Sendable {
    private struct Entry {
        var deadline: ContinuousClock.Instant
        var cancel: @Sendable () -> Void
        var flag: Flag
    }

    private struct State {
        var entries: [UInt64: Entry] = [:]
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    let interval: Duration

    init(interval: Duration = .milliseconds(100)) {
        self.interval = interval
    }

    /// Runs `body` in a task of its own, cancelled by the sweeper once `deadline` has passed.
    /// - Returns: What `body` returned, and whether the deadline cancelled it.
    func run<Value: Sendable>(
        until deadline: ContinuousClock.Instant,
        _ body: @escaping @Sendable () async -> Value
    ) async -> (value: Value, expired: Bool) {
        let task = Task.immediate { await body() }
        let flag = Flag()
        let id = state.withLock { state in
            state.nextID += 1
            state.entries[state.nextID] = Entry(deadline: deadline, cancel: { task.cancel() }, flag: flag)
            return state.nextID
        }
        let value = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        state.withLock { _ = $0.entries.removeValue(forKey: id) }
        return (value, flag.isSet)
    }

    /// Cancels the attempts past their deadline.
    func sweep(now: ContinuousClock.Instant = .now) {
        let expired = state.withLock { state -> [Entry] in
            let due = state.entries.filter { $0.value.deadline <= now }
            for id in due.keys { state.entries[id] = nil }
            return Array(due.values)
        }
        for entry in expired {
            entry.flag.set()
            entry.cancel()
        }
    }

    /// Sweeps every `interval` until the calling task is cancelled.
    func runSweeper() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            sweep()
        }
    }

    /// Set once by the sweeper, read by the attempt's caller.
    final class Flag: Sendable {
        private let value = Atomic(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
    }
}
