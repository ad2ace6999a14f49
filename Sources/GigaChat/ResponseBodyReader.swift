import AsyncHTTPClient
import NIOCore

/// Reads a streamed response body, optionally racing each read against a deadline.
///
/// AsyncHTTPClient's request deadline only covers the exchange up to the response head; a streamed body is
/// read later, so the per-call deadline is enforced here: the read runs in a child task that is cancelled
/// (which cancels the HTTP request) when the deadline passes first.
// @unchecked Sendable: the iterator is used by one task at a time. The owning `ChatStream.AsyncIterator` awaits
// every read before starting the next, and the racing child task is always awaited before `next` returns.
final class ResponseBodyReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private let deadline: NIODeadline

    init(_ body: HTTPClientResponse.Body, deadline: NIODeadline) {
        self.iterator = body.makeAsyncIterator()
        self.deadline = deadline
    }

    /// The next piece of the body, or `nil` at its end.
    /// - Throws: the transport's error, or ``GigaChatError/Code/timeout`` when the deadline passes.
    func next() async throws -> ByteBuffer? {
        guard self.deadline != .distantFuture else { return try await self.iterator.next() }
        let remaining = self.deadline - .now()
        guard remaining > .zero else { throw Self.deadlineError() }
        return try await withThrowingTaskGroup(of: ByteBuffer?.self) { group in
            group.addTask { try await self.iterator.next() }
            group.addTask {
                try await Task.sleep(for: .nanoseconds(remaining.nanoseconds))
                throw Self.deadlineError()
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    static func deadlineError() -> GigaChatError {
        GigaChatError(code: .timeout, message: "the call's deadline passed", isRetriable: false)
    }
}
