import NIOCore
import NIOHTTP1
import Synchronization

/// One request of the direct transport: what goes on the wire after the origin is chosen.
struct HTTP1Request: Sendable {
    var method: HTTPMethod
    /// The path and query (`/api/v1/chat/completions`).
    var target: String
    /// The caller's headers; `Host` and `Content-Length` are added when sent.
    var headers: HTTPHeaders
    var body: ByteBuffer?
}

/// Receives one exchange's answer on the connection's event loop, in order: ``head(_:)``, ``body(_:)`` for each
/// piece, then ``end()``; or ``fail(_:)`` at any point instead of what is left (also before the head, and then
/// possibly on another thread: the exchange never reached a connection). Exactly one of ``end()`` and ``fail(_:)``
/// is called.
///
/// A receiver that throws from ``head(_:)`` or ``body(_:)`` ends the exchange: the connection is closed and the
/// error comes back through ``fail(_:)``.
protocol HTTP1ResponseReceiver: AnyObject, Sendable {
    func head(_ head: HTTPResponseHead) throws(GigaChatError)
    func body(_ part: ByteBuffer) throws(GigaChatError)
    func end()
    func fail(_ error: GigaChatError)
}

/// A request on its way through the pool: waiting for a connection, then running on one.
///
/// The pool's lock guards ``phase`` and ``waitTimer``; once running, the exchange belongs to its connection's event
/// loop. ``isCancelled`` is read anywhere: a cancellation can overtake the exchange on its way to a connection.
final class HTTP1Exchange: @unchecked Sendable {
    enum Phase {
        /// In its origin's queue.
        case waiting
        /// A connection is being opened for it.
        case connecting
        case running(HTTP1Connection)
        /// Its receiver has been told how it ended (or is being told, by whoever set this).
        case ended
    }

    let request: HTTP1Request
    let origin: HTTP1Origin
    let receiver: any HTTP1ResponseReceiver
    /// No byte for this long once the request is written ends the exchange (`nil`: no idle limit).
    let idleTimeout: TimeAmount?
    /// The whole exchange ends by this time, waiting for a connection included.
    let deadline: NIODeadline

    var phase = Phase.waiting
    private let cancelled = Atomic(false)
    /// The timer of an exchange that waits for a connection with a deadline.
    var waitTimer: Scheduled<Void>?

    init(
        request: HTTP1Request,
        origin: HTTP1Origin,
        receiver: any HTTP1ResponseReceiver,
        idleTimeout: TimeAmount?,
        deadline: NIODeadline
    ) {
        self.request = request
        self.origin = origin
        self.receiver = receiver
        self.idleTimeout = idleTimeout
        self.deadline = deadline
    }

    /// The caller cancelled the exchange (set before the pool looks at where it is).
    var isCancelled: Bool { self.cancelled.load(ordering: .acquiring) }

    func markCancelled() { self.cancelled.store(true, ordering: .releasing) }
}
