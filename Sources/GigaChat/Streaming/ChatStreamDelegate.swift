import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Reads one streamed chat answer where its bytes arrive, on the connection's event loop, and hands each chunk to
/// `onChunk` there: no task switch and no async-sequence hop per event (issue 17: those were most of a streamed
/// job's cost). The caller awaits only ``answered``, which completes once, when the answer's end marker is read or
/// the call fails.
///
/// - A non-2xx head: its body (at most 64 KiB) is kept and mapped to the status's ``GigaChatError`` at the end,
///   also when reading that body fails (a stalled error body ends at the idle timeout and keeps its status, so a
///   401 still renews the token and a 422 is still not retried).
/// - A 2xx head that is not `text/event-stream`: a retriable failure, as the SDK treats it.
/// - After the end marker the rest of the body is still read (normally nothing), so the connection goes back to
///   the pool; the caller does not wait for it, and a body left open is closed at the idle timeout.
/// - The idle timeout (no byte for ``GigaChatConfiguration/Timeouts/idle`` once the request is sent, to the body's
///   end) is
///   kept here, lazily: each piece of the body only notes the time, and one timer per call looks at that note when it
///   fires and sleeps again if bytes came since. (AsyncHTTPClient's read timeout cancels and re-arms a timer on
///   every piece: about 4,400 instructions of every event, so the streams' pool runs without it.)
///
/// `@unchecked Sendable`: AsyncHTTPClient calls every delegate method on the task's event loop, one at a time, and
/// the mutable fields are touched only there (``taskEnded(_:)`` too: it runs on the task's future). The one
/// exception is a request AsyncHTTPClient refuses before it starts (an invalid header value): then
/// `didReceiveError` runs on the caller's thread, but before anything else could touch the delegate.
final class ChatStreamDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    /// The most bytes of an error answer kept for its message.
    static let errorBodyLimit = 64 * 1024

    private let api: GigaChatAPI
    private let url: String
    private let onChunk: @Sendable (ChatChunk) -> Void
    private let scrub: @Sendable (String) -> String
    private let promise: EventLoopPromise<Void>
    private var decoder: ChatEventDecoder?
    private var errorHead: HTTPResponseHead?
    private var errorBody: ByteBuffer?
    private var completed = false
    private let idleTimeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    /// The idle clock runs once the request is sent, as AsyncHTTPClient's read timeout did: waiting for a pooled
    /// connection and connecting are the connect timeout's and the deadline's.
    private var requestSent = false
    private var idleTimer: Scheduled<Void>?
    /// The AsyncHTTPClient task ended (the body's end, or a failure): nothing is left to watch.
    private var ended = false

    /// Completes when the answer ended (its end marker read) or failed with a ``GigaChatError``.
    var answered: EventLoopFuture<Void> { self.promise.futureResult }

    /// - Parameters:
    ///   - eventLoop: The task's event loop (the delegate's methods run there).
    ///   - scrub: Removes secrets from an error message.
    init(
        api: GigaChatAPI,
        url: String,
        eventLoop: any EventLoop,
        idleTimeout: TimeAmount,
        scrub: @escaping @Sendable (String) -> String,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) {
        self.api = api
        self.url = url
        self.onChunk = onChunk
        self.scrub = scrub
        self.promise = eventLoop.makePromise()
        self.idleTimeout = idleTimeout
    }

    /// Starts the idle timeout of `task` (on the task's event loop, once it was made).
    func watchIdle(_ task: HTTPClient.Task<Void>) {
        guard !self.ended else { return }
        self.scheduleIdleCheck(at: .now() + self.idleTimeout, task: task)
    }

    private func scheduleIdleCheck(at deadline: NIODeadline, task: HTTPClient.Task<Void>) {
        self.idleTimer = task.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) {
            self.idleTimer = nil
            guard !self.ended else { return }
            let due = self.requestSent ? self.lastActivity + self.idleTimeout : .now() + self.idleTimeout
            if due > .now() {
                self.scheduleIdleCheck(at: due, task: task)
                return
            }
            guard !self.completed else {
                // The answer is in, but the rest of its body never came: free the connection.
                task.cancel()
                return
            }
            if self.errorHead != nil {
                self.completeWithErrorStatus()  // a stalled error body: the status still decides
            } else {
                self.complete(
                    .failure(GigaChatError(code: .timeout, message: "no data from the server within the idle timeout"))
                )
            }
            task.cancel()
        }
    }

    func didSendRequest(task: HTTPClient.Task<Void>) {
        self.requestSent = true
        self.lastActivity = .now()
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.lastActivity = .now()
        GigaChatRequestMetrics.shared.record(url: self.url, status: String(head.status.code))
        let requestID = head.headers.first(name: "x-request-id")
        guard (200..<300).contains(head.status.code) else {
            self.errorHead = head
            self.errorBody = ByteBuffer()
            return task.eventLoop.makeSucceededVoidFuture()
        }
        if let error = ChatEventDecoder.notAnEventStream(
            contentType: head.headers.first(name: "content-type"),
            status: Int(head.status.code),
            requestID: requestID
        ) {
            return task.eventLoop.makeFailedFuture(error)
        }
        self.decoder = ChatEventDecoder(api: self.api, requestID: requestID)
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        self.lastActivity = .now()
        if self.errorHead != nil {
            var part = buffer
            let room = Self.errorBodyLimit - (self.errorBody?.readableBytes ?? 0)
            if room > 0, let bytes = part.readSlice(length: min(room, part.readableBytes)) {
                self.errorBody!.writeImmutableBuffer(bytes)  // in place: the buffer is not shared
            }
            return task.eventLoop.makeSucceededVoidFuture()
        }
        guard !self.completed, self.decoder != nil else { return task.eventLoop.makeSucceededVoidFuture() }
        do {
            try self.decoder!.read(buffer) { self.onChunk($0) }
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
        if self.decoder!.finished { self.complete(.success(())) }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        if self.errorHead != nil {
            // The error's body did not come whole: the status still decides.
            self.completeWithErrorStatus()
            return
        }
        if self.decoder == nil {
            GigaChatRequestMetrics.shared.record(url: self.url, status: "error")
        }
        let failure = GigaChatError.wrapping(error)
        // Once the answer had begun, a connection lost is a cut stream.
        self.complete(.failure(self.decoder?.cut(by: failure) ?? failure))
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        if self.errorHead != nil {
            self.completeWithErrorStatus()
            return
        }
        guard !self.completed, self.decoder != nil else { return }
        do {
            try self.decoder!.end { self.onChunk($0) }
            self.complete(.success(()))
        } catch {
            self.complete(.failure(GigaChatError.wrapping(error)))
        }
    }

    /// The task's own end, on its event loop: a task that failed before any delegate call (a client already shut
    /// down) still completes ``answered``, and so would one that ended without the answer (never expected).
    func taskEnded(_ result: Result<Void, any Error>) {
        self.ended = true
        self.idleTimer?.cancel()
        self.idleTimer = nil
        switch result {
        case .failure(let error):
            self.complete(.failure(GigaChatError.wrapping(error)))
        case .success:
            let requestID = self.decoder?.requestID
            self.complete(
                .failure(
                    GigaChatError(code: .streamCut, message: "the call ended without an answer", requestID: requestID)
                )
            )
        }
    }

    private func completeWithErrorStatus() {
        guard let head = self.errorHead else { return }
        var error = GigaChatError.fromResponse(
            status: Int(head.status.code),
            headers: head.headers,
            body: self.errorBody
        )
        error.message = self.scrub(error.message)
        self.complete(.failure(error))
    }

    private func complete(_ result: Result<Void, GigaChatError>) {
        guard !self.completed else { return }
        self.completed = true
        switch result {
        case .success: self.promise.succeed(())
        case .failure(let error): self.promise.fail(error)
        }
    }
}
