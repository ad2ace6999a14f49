import Synchronization

/// Waits for `body` at most `timeout`; past it, returns `nil` and leaves `body` running on its own (for calls that
/// cannot be cancelled, such as leaving a consumer group whose coordinator is gone).
func withTimeout<T: Sendable>(
    _ timeout: Duration,
    _ body: @escaping @Sendable () async throws -> T
) async throws -> T? {
    let race = Race<T>()
    let work = Task { race.finish(with: .success(try await body())) }
    let timer = Task {
        try? await Task.sleep(for: timeout)
        race.finish(with: .success(nil))
    }
    let result = await withCheckedContinuation { race.install($0) }
    timer.cancel()
    _ = work
    return try result.get()
}

/// The first of two outcomes wins; the continuation is resumed once.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<Result<T?, any Error>, Never>?
        var result: Result<T?, any Error>?
    }

    private let state = Mutex(State())

    func install(_ continuation: CheckedContinuation<Result<T?, any Error>, Never>) {
        let early = state.withLock { state -> Result<T?, any Error>? in
            if let result = state.result { return result }
            state.continuation = continuation
            return nil
        }
        if let early { continuation.resume(returning: early) }
    }

    func finish(with result: Result<T?, any Error>) {
        let continuation = state.withLock { state -> CheckedContinuation<Result<T?, any Error>, Never>? in
            guard state.result == nil else { return nil }
            state.result = result
            return state.continuation.take()
        }
        continuation?.resume(returning: result)
    }
}
