import Dispatch
import Foundation

/// Starts long-running loops on their own threads and runs short blocking C calls off the cooperative pool.
enum DedicatedThread {
    /// Runs `body` on a new thread (not a Swift concurrency thread) named `name`.
    static func start(name: String, _ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.name = name
        thread.start()
    }

    /// Runs a blocking call on `queue` (a Dispatch thread, never the cooperative pool) and awaits its result.
    static func run<Value: Sendable>(
        on queue: DispatchQueue,
        _ body: @escaping @Sendable () -> Value
    ) async -> Value {
        await withCheckedContinuation { continuation in
            queue.async { continuation.resume(returning: body()) }
        }
    }
}
