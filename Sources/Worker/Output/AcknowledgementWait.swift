import Synchronization

/// Waits for a callback-reported outcome (a delivery report) in a way that task cancellation ends.
///
/// The outcome arrives once, on a producer thread, possibly before the wait starts; if the waiting task is
/// cancelled first, the wait ends with `false` and a later outcome is ignored.
enum AcknowledgementWait {
    /// Starts the work with a `done` callback, then waits for the outcome (or for cancellation).
    /// - Returns: The reported outcome; `false` when cancelled.
    static func run(_ start: (@escaping @Sendable (Bool) -> Void) async -> Void) async -> Bool {
        let outcome = Outcome()
        await start { outcome.resolve($0) }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { outcome.install($0) }
        } onCancel: {
            outcome.resolve(false)
        }
    }

    /// The outcome, and the continuation waiting for it: whichever comes second resumes it.
    private final class Outcome: Sendable {
        private struct State {
            var continuation: CheckedContinuation<Bool, Never>?
            var value: Bool?
        }

        private let state = Mutex(State())

        func install(_ continuation: CheckedContinuation<Bool, Never>) {
            let early = state.withLock { state -> Bool? in
                if let value = state.value { return value }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(returning: early) }
        }

        func resolve(_ value: Bool) {
            let continuation = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard state.value == nil else { return nil }
                state.value = value
                return state.continuation.take()
            }
            continuation?.resume(returning: value)
        }
    }
}
