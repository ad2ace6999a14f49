import AsyncHTTPClient
import NIOCore
import NIOHTTP1

/// Feeds a ``ChatStreamReceiver`` from AsyncHTTPClient (the transport of configurations with a proxy), and keeps the
/// stream's idle timeout: no byte for ``GigaChatConfiguration/Timeouts/idle`` once the request is sent, to the body's
/// end.
///
/// The timeout is kept lazily: each piece of the body only notes the time, and one timer per call looks at that note
/// when it fires and sleeps again if bytes came since. (AsyncHTTPClient's read timeout cancels and re-arms a timer on
/// every piece, so the streams' pool runs without it.) A body left open after the answer's end marker is closed at
/// the idle timeout.
///
/// `@unchecked Sendable`: AsyncHTTPClient calls every delegate method on the task's event loop, one at a time, and
/// the mutable fields are touched only there (``taskEnded(_:)`` too: it runs on the task's future). The one
/// exception is a request AsyncHTTPClient refuses before it starts (an invalid header value): then
/// `didReceiveError` runs on the caller's thread, but before anything else could touch the delegate.
final class ChatStreamDelegate: HTTPClientResponseDelegate, @unchecked Sendable {
    typealias Response = Void

    let receiver: ChatStreamReceiver
    private let idleTimeout: TimeAmount
    private var lastActivity = NIODeadline.now()
    /// The idle clock runs once the request is sent, as AsyncHTTPClient's read timeout did: waiting for a pooled
    /// connection and connecting are the connect timeout's and the deadline's.
    private var requestSent = false
    private var idleTimer: Scheduled<Void>?
    /// The AsyncHTTPClient task ended (the body's end, or a failure): nothing is left to watch.
    private var ended = false

    init(receiver: ChatStreamReceiver, idleTimeout: TimeAmount) {
        self.receiver = receiver
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
            // The answer may be in already, and only the rest of its body never came: then this frees the connection.
            self.receiver.fail(.idleTimeout)
            task.cancel()
        }
    }

    func didSendRequest(task: HTTPClient.Task<Void>) {
        self.requestSent = true
        self.lastActivity = .now()
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        self.lastActivity = .now()
        do {
            try self.receiver.head(head)
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        self.lastActivity = .now()
        do {
            try self.receiver.body(buffer)
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        self.receiver.fail(GigaChatError.wrapping(error))
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        self.receiver.end()
    }

    /// The task's own end, on its event loop: a task that failed before any delegate call (a client already shut
    /// down) still completes the receiver's answer, and so would one that ended without the answer (never expected).
    func taskEnded(_ result: Result<Void, any Error>) {
        self.ended = true
        self.idleTimer?.cancel()
        self.idleTimer = nil
        guard !self.receiver.completed else { return }
        switch result {
        case .failure(let error):
            self.receiver.fail(GigaChatError.wrapping(error))
        case .success:
            self.receiver.end()
        }
    }
}
