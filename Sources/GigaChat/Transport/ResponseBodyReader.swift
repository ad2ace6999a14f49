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
// @unchecked Sendable: the iterator is used by one task at a time. The owning `ChatStream.AsyncIterator` awaits
// every read before starting the next, and `next` awaits the read task before it returns. The timer touches only
// `DeadlineState`, which is behind a lock.
final class ResponseBodyReader: @unchecked Sendable {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private let deadline: NIODeadline
    private let state: DeadlineState?
    private var timer: Scheduled<Void>?

    /// - Parameters:
    ///   - body: The body to read.
    ///   - deadline: When reading must have ended; `.distantFuture` for none (no timer, plain reads).
    ///   - eventLoop: Where the deadline's timer runs.
    init(_ body: HTTPClientResponse.Body, deadline: NIODeadline, eventLoop: any EventLoop) {
        self.iterator = body.makeAsyncIterator()
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
        guard let state = self.state else { return try await self.iterator.next() }
        guard !state.isExpired, self.deadline > .now() else {
            self.stopTimer()
            throw Self.deadlineError()
        }
        // `immediate`: a piece that is already buffered is read on the calling thread without a hop.
        let read = Task.immediate { try await self.iterator.next() }
        if !state.register(read) {
            // The timer fired while the read was starting: it found no read to cancel.
            read.cancel()
        }
        let result = await withTaskCancellationHandler {
            await read.result
        } onCancel: {
            read.cancel()
        }
        state.unregister()
        switch result {
        case .success(let buffer):
            if buffer == nil { self.stopTimer() }
            return buffer
        case .failure(let error):
            self.stopTimer()
            // The cancelled read ends with `CancellationError` (or whatever the transport threw meanwhile); the
            // deadline is the reason, and like before it is not retriable.
            if state.isExpired { throw Self.deadlineError() }
            throw error
        }
    }

    private func stopTimer() {
        self.timer?.cancel()
        self.timer = nil
    }

    static func deadlineError() -> GigaChatError {
        GigaChatError(code: .timeout, message: "the call's deadline passed", isRetriable: false)
    }
}

extension ResponseBodyReader {
    /// What the timer and the reading task share: whether the deadline passed, and the read to cancel then.
    final class DeadlineState: Sendable {
        private struct Fields {
            var expired = false
            var read: Task<ByteBuffer?, any Error>?
        }

        private let fields = Mutex(Fields())

        var isExpired: Bool { self.fields.withLock { $0.expired } }

        /// Marks the deadline passed and cancels the read in progress, if any (outside the lock).
        func expire() {
            let read = self.fields.withLock { fields in
                fields.expired = true
                return fields.read.take()
            }
            read?.cancel()
        }

        /// Records the read in progress; `false` if the deadline already passed (the caller cancels it).
        func register(_ read: Task<ByteBuffer?, any Error>) -> Bool {
            self.fields.withLock { fields in
                guard !fields.expired else { return false }
                fields.read = read
                return true
            }
        }

        func unregister() {
            self.fields.withLock { $0.read = nil }
        }
    }
}
