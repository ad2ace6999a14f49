import AsyncHTTPClient
import NIOCore
import Synchronization

/// Reads a response body, optionally within a deadline.
///
/// AsyncHTTPClient's request deadline only covers the exchange up to the response head; a streamed body is
/// read later, so the per-call deadline is enforced here. One timer per body is armed on an event loop; when it
/// fires it cancels the read in progress (a task of its own, so cancelling it cancels the HTTP request but not
/// the caller), and that read and every later one throw ``GigaChatError/Code/timeout``.
///
/// A `Task.sleep` per read would be simpler, but a cancelled `Task.sleep` stays queued in the runtime until its
/// original wake-up time (swiftlang/swift#60441, still so in 6.3.1): a benchmark measured ~850 B of growth per
/// read with a 60 s deadline. NIO removes a cancelled scheduled task at once.
///
/// Not `Sendable`: one task reads at a time (the owning `ChatStream.AsyncIterator`). Only the tiny
/// ``BodyIterator`` box crosses into the read task.
final class ResponseBodyReader {
    private let body: BodyIterator
    private let deadline: NIODeadline
    private let state: DeadlineState?
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - body: The body to read.
    ///   - deadline: When reading must have ended; `.distantFuture` for none (no timer, plain reads).
    ///   - eventLoop: Where the deadline's timer runs.
    init(_ body: HTTPClientResponse.Body, deadline: NIODeadline, eventLoop: any EventLoop) {
        self.body = BodyIterator(body.makeAsyncIterator())
        self.deadline = deadline
        guard deadline != .distantFuture else {
            self.state = nil
            return
        }
        let state = DeadlineState()
        self.state = state
        // The timer holds the state only, never the reader, so releasing the reader cancels it (deinit).
        self.timer = eventLoop.scheduleTask(deadline: deadline) { state.expire() }
    }

    deinit {
        self.timer?.cancel()
    }

    /// The next piece of the body, or `nil` at its end.
    /// - Throws: the transport's error, `CancellationError` when the calling task is cancelled, or
    ///   ``GigaChatError/Code/timeout`` when the deadline passes.
    func next() async throws -> ByteBuffer? {
        let body = self.body
        guard let state = self.state else { return try await body.next() }
        guard !state.isExpired, self.deadline > .now() else {
            self.stopTimer()
            throw GigaChatError.deadlinePassed
        }
        // `immediate`: a piece that is already buffered is read on the calling thread without a hop.
        let read = Task.immediate { try await body.next() }
        let result = await Self.run(read, under: state)
        switch result {
        case .success(let buffer):
            if buffer == nil { self.stopTimer() }
            return buffer
        case .failure(let error):
            self.stopTimer()
            throw error
        }
    }

    /// Collects a whole body of at most `limit` bytes within `deadline`: one read task for the whole body.
    static func collect(
        _ body: HTTPClientResponse.Body,
        upTo limit: Int,
        deadline: NIODeadline,
        eventLoop: any EventLoop
    ) async throws -> ByteBuffer {
        guard deadline != .distantFuture else { return try await body.collect(upTo: limit) }
        guard deadline > .now() else { throw GigaChatError.deadlinePassed }
        let state = DeadlineState()
        let timer = eventLoop.scheduleTask(deadline: deadline) { state.expire() }
        defer { timer.cancel() }
        let read = Task.immediate { try await body.collect(upTo: limit) }
        return try await Self.run(read, under: state).get()
    }

    /// Awaits `read`, cancelling it when the caller is cancelled or the deadline passes (then the error is the
    /// deadline's, whatever the read threw).
    private static func run<Value: Sendable>(
        _ read: Task<Value, any Error>,
        under state: DeadlineState
    ) async -> Result<Value, any Error> {
        if !state.register({ read.cancel() }) {
            // The timer fired while the read was starting: it found no read to cancel.
            read.cancel()
        }
        let result = await withTaskCancellationHandler {
            await read.result
        } onCancel: {
            read.cancel()
        }
        state.unregister()
        if case .failure = result, state.isExpired { return .failure(GigaChatError.deadlinePassed) }
        return result
    }

    private func stopTimer() {
        self.timer?.cancel()
        self.timer = nil
    }
}
