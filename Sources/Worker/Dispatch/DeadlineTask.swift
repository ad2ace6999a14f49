import NIOCore
import NIOPosix
import Synchronization

/// Runs an attempt in a task of its own that a NIO timer cancels when the job's deadline passes.
///
/// Giving the client the deadline instead would make it race every body read against the clock (a task per
/// read); one timer per attempt is cheaper, and NIO drops a cancelled timer at once (a cancelled `Task.sleep`
/// would linger until its wake-up time, swiftlang/swift#60441).
enum DeadlineTask {
    /// Runs `body`; if `deadline` passes first, cancels it.
    /// - Returns: What `body` returned, and whether the deadline cancelled it.
    static func run<Value: Sendable>(
        until deadline: ContinuousClock.Instant,
        _ body: @escaping @Sendable () async -> Value
    ) async -> (value: Value, expired: Bool) {
        let expired = Flag()
        let task = Task.immediate { await body() }
        let remaining = deadline - .now
        let nanoseconds = remaining.components.seconds * 1_000_000_000 + remaining.components.attoseconds / 1_000_000_000
        let timer = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: .nanoseconds(max(0, nanoseconds))) {
            expired.set()
            task.cancel()
        }
        let value = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        timer.cancel()
        return (value, expired.isSet)
    }

    /// Set once, read after: whether the timer fired.
    final class Flag: Sendable {
        private let value = Atomic(false)
        var isSet: Bool { value.load(ordering: .acquiring) }
        func set() { value.store(true, ordering: .releasing) }
    }
}
