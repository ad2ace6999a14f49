import NIOCore
import NIOHTTP1
import NIOSSL
import NIOTLS

/// One pooled HTTP/1.1 connection, the last handler of its channel's pipeline: it writes an exchange's request and
/// hands the answer to the exchange's receiver as it is read, one exchange at a time.
///
/// Its timeouts cost nothing per read: each read only notes the time, and one timer per connection (not per exchange,
/// not per read) looks at that note when it fires, and sleeps again if bytes came since or the exchange's deadline
/// is further off. An exchange ends with a timeout at its deadline, or when no byte came for its idle timeout once
/// its request was sent whole (an upload that takes long is not idle); the connection is then closed. A TLS
/// handshake must end within the connect timeout.
///
/// `@unchecked Sendable`: everything but the `let`s is touched only on the channel's event loop (``parkedSince`` is
/// the pool's, under its lock).
final class HTTP1Connection: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    /// A request goes out as bytes made here (see ``HTTP1ResponseDecoding``).
    typealias OutboundOut = ByteBuffer

    /// The largest body written in the same buffer as the request's head (a larger one, an upload, is written as it
    /// is, after the head: copying it would cost more than a second write).
    static let inlineBodyLimit = 16 * 1024

    let origin: HTTP1Origin
    let eventLoop: any EventLoop
    /// The origin's `Host` header, made once.
    private let hostHeader: String
    /// When the connection went back to the pool (the pool's, under its lock).
    var parkedSince = NIODeadline.now()

    /// Held strongly: connections outlive a pool dropped without ``HTTP1ConnectionPool/shutdown()`` (then both leak,
    /// as AsyncHTTPClient's would).
    private let pool: HTTP1ConnectionPool
    private let connectTimeout: TimeAmount
    /// The pipeline's response decoder, told of each request this connection writes.
    private let responseDecoder: HTTPResponseDecoder
    private var context: ChannelHandlerContext?
    private var handshakeTimer: Scheduled<Void>?
    private var exchange: HTTP1Exchange?
    /// The running exchange's request was written whole (or its answer began: the idle clock runs).
    private var requestSent = false
    /// The running exchange's request was written whole (an answer that came before cannot leave the connection
    /// reusable: the rest of the request would follow it).
    private var requestWritten = false
    private var headReceived = false
    private var keepAlive = true
    private var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var timerDue = NIODeadline.distantFuture

    init(
        origin: HTTP1Origin,
        eventLoop: any EventLoop,
        connectTimeout: TimeAmount,
        pool: HTTP1ConnectionPool,
        responseDecoder: HTTPResponseDecoder
    ) {
        self.origin = origin
        self.hostHeader = origin.hostHeader
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
        self.pool = pool
        self.responseDecoder = responseDecoder
    }

    func handlerAdded(context: ChannelHandlerContext) {
        precondition(self.context == nil, "a connection handler serves one channel")
        self.context = context
    }

    func channelActive(context: ChannelHandlerContext) {
        if self.origin.tls {
            self.handshakeTimer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(
                in: self.connectTimeout
            ) { [self] in
                self.close(failing: .connectTimeout("the TLS handshake did not end in time"), promise: nil)
            }
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            self.handshakeTimer?.cancel()
            self.handshakeTimer = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Starts `exchange` on this connection (on its event loop). A connection that closed while it sat in the pool
    /// gives the exchange back to the pool, which finds it another; an exchange cancelled on its way here ends.
    func start(_ exchange: HTTP1Exchange) {
        self.eventLoop.preconditionInEventLoop()
        guard let context, context.channel.isActive else {
            self.pool.reroute(exchange, from: self)
            return
        }
        precondition(self.exchange == nil, "a connection runs one exchange at a time")
        // Cancelled or past its deadline on its way here: nothing was sent, so the connection stays usable.
        if exchange.isCancelled || exchange.deadline <= .now() {
            self.pool.exchangeEnded(exchange, on: self, reusable: true)
            exchange.receiver.fail(exchange.isCancelled ? .callCancelled : .deadlinePassed)
            return
        }
        self.exchange = exchange
        self.requestWritten = false
        self.requestSent = false
        self.headReceived = false
        self.keepAlive = true
        let request = exchange.request
        // Told at once (NIO's write watch queued it while a read was being decoded): an exchange started from the
        // previous one's end, inside the decoder, has its request registered before anything after that end is
        // parsed, so an answer that follows in the same read is taken as this request's.
        self.responseDecoder.write(data: .head(Self.decoderHead(request.method)))
        var bytes = Self.head(of: request, host: self.hostHeader, allocator: context.channel.allocator)
        let sent = context.eventLoop.makePromise(of: Void.self)
        if let body = request.body, body.readableBytes > Self.inlineBodyLimit {
            context.write(self.wrapOutboundOut(bytes), promise: nil)
            context.writeAndFlush(self.wrapOutboundOut(body), promise: sent)
        } else {
            if let body = request.body { bytes.writeImmutableBuffer(body) }
            context.writeAndFlush(self.wrapOutboundOut(bytes), promise: sent)
        }
        sent.futureResult.assumeIsolatedUnsafeUnchecked().whenSuccess { [self] in
            guard self.exchange === exchange else { return }
            self.requestWritten = true
            self.markSent()
        }
        self.watch()
    }

    /// The request line and headers of `request`, with room for a small body after them. The body's framing is the
    /// transport's: a caller's `Content-Length` or `Transfer-Encoding` would contradict it and is left out. (The
    /// client checked the headers: no name or value can break the framing.)
    static func head(of request: HTTP1Request, host: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        let bodyBytes = request.body?.readableBytes ?? 0
        var size = request.target.utf8.count + 64 + host.utf8.count
        for (name, value) in request.headers { size += name.utf8.count + value.utf8.count + 4 }
        var bytes = allocator.buffer(capacity: size + (bodyBytes <= Self.inlineBodyLimit ? bodyBytes : 0))
        bytes.writeString(request.method.rawValue)
        bytes.writeStaticString(" ")
        bytes.writeString(request.target)
        bytes.writeStaticString(" HTTP/1.1\r\n")
        var hasHost = false
        for (name, value) in request.headers {
            if Self.isNamed(name, "content-length") || Self.isNamed(name, "transfer-encoding") { continue }
            if Self.isNamed(name, "host") { hasHost = true }
            bytes.writeString(name)
            bytes.writeStaticString(": ")
            bytes.writeString(value)
            bytes.writeStaticString("\r\n")
        }
        if !hasHost {
            bytes.writeStaticString("Host: ")
            bytes.writeString(host)
            bytes.writeStaticString("\r\n")
        }
        if request.body != nil || !Self.hasNoBodyByDefault(request.method) {
            bytes.writeStaticString("Content-Length: ")
            bytes.writeString(String(bodyBytes))
            bytes.writeStaticString("\r\n")
        }
        bytes.writeStaticString("\r\n")
        return bytes
    }

    /// Whether a request of `method` carries no body unless given one; any other gets `Content-Length: 0` without
    /// one (RFC 9110 §8.6).
    static func hasNoBodyByDefault(_ method: HTTPMethod) -> Bool {
        switch method {
        case .GET, .HEAD, .DELETE, .OPTIONS, .TRACE, .CONNECT: true
        default: false
        }
    }

    /// What the response decoder is told of a request: only its method matters (made once for the usual ones: a
    /// request head allocates).
    private static func decoderHead(_ method: HTTPMethod) -> HTTPRequestHead {
        switch method {
        case .POST: Self.postHead
        case .GET: Self.getHead
        default: HTTPRequestHead(version: .http1_1, method: method, uri: "")
        }
    }
    private static let postHead = HTTPRequestHead(version: .http1_1, method: .POST, uri: "")
    private static let getHead = HTTPRequestHead(version: .http1_1, method: .GET, uri: "")

    /// Whether header `name` is `lowercased` (ASCII letters compared without case).
    private static func isNamed(_ name: String, _ lowercased: StaticString) -> Bool {
        var name = name
        return name.withUTF8 { bytes in
            guard bytes.count == lowercased.utf8CodeUnitCount else { return false }
            let expected = UnsafeBufferPointer(start: lowercased.utf8Start, count: lowercased.utf8CodeUnitCount)
            for index in 0..<bytes.count {
                let byte = bytes[index]
                let folded = (0x41...0x5A).contains(byte) ? byte | 0x20 : byte
                if folded != expected[index] { return false }
            }
            return true
        }
    }

    /// Ends `exchange` as cancelled if it runs here (on the event loop); the connection is closed, since the rest
    /// of its answer would still come. (An exchange on its way here sees its cancellation in ``start(_:)``.)
    func cancel(_ exchange: HTTP1Exchange) {
        guard self.exchange === exchange else { return }
        self.fail(.callCancelled)
    }

    /// Closes the connection (on the event loop); an exchange still running fails with `error`.
    func close(failing error: GigaChatError, promise: EventLoopPromise<Void>?) {
        self.fail(error)
        guard let context, context.channel.isActive else {
            promise?.succeed(())
            return
        }
        context.close(promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange = self.exchange else {
            // An answer nobody asked for (a 408 to an idle connection, say): the connection is out of step.
            context.close(promise: nil)
            return
        }
        // (Interim 1xx answers never come here: the decoder drops them.)
        switch self.unwrapInboundIn(data) {
        case .head(let head):
            self.lastActivity = .now()
            if !self.requestSent { self.markSent() }  // the server answers: nothing is waiting on the upload
            self.headReceived = true
            // After 101 NIO's decoder parses nothing more: the connection cannot serve another exchange.
            self.keepAlive = head.isKeepAlive && head.status != .switchingProtocols
            do {
                try exchange.receiver.head(head)
            } catch {
                self.fail(error)
            }
        case .body(let part):
            self.lastActivity = .now()
            do {
                try exchange.receiver.body(part)
            } catch {
                self.fail(error)
            }
        case .end:
            self.exchange = nil
            let reusable = self.keepAlive && self.requestWritten && context.channel.isActive
            if !reusable { context.close(promise: nil) }
            // The connection goes back first, so that the caller resumed by `end()` can have it at once.
            self.pool.exchangeEnded(exchange, on: self, reusable: reusable)
            exchange.receiver.end()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A peer that closes without TLS's close_notify (common behind load balancers) is a closed connection,
        // which `channelInactive` reports (retriable), not a TLS failure; a body it cut short is the decoder's error.
        if case NIOSSLError.uncleanShutdown = error { return }
        if self.exchange != nil {
            self.fail(GigaChatError.wrapping(error))
        } else {
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.timer?.cancel()
        self.timer = nil
        self.handshakeTimer?.cancel()
        self.handshakeTimer = nil
        if self.exchange != nil {
            let message =
                self.headReceived
                ? "the server closed the connection before the answer ended"
                : "the server closed the connection before answering"
            self.fail(GigaChatError(code: .transport, message: message))
        }
        self.pool.connectionClosed(self)
        context.fireChannelInactive()
    }

    /// Ends the running exchange with `error` and closes the connection.
    private func fail(_ error: GigaChatError) {
        guard let exchange = self.exchange else { return }
        self.exchange = nil
        self.pool.exchangeEnded(exchange, on: self, reusable: false)
        exchange.receiver.fail(error)
        self.context?.close(promise: nil)
    }

    // MARK: - Timeouts

    private func markSent() {
        self.requestSent = true
        self.lastActivity = .now()
        self.watch()
    }

    /// When the running exchange times out, as things stand: its deadline, and once the request is sent, the idle
    /// timeout after the last byte.
    private var due: NIODeadline? {
        guard let exchange = self.exchange else { return nil }
        guard self.requestSent, let idle = exchange.idleTimeout else { return exchange.deadline }
        return min(exchange.deadline, self.lastActivity + idle)
    }

    /// Makes sure the timer fires no later than the running exchange's due time.
    private func watch() {
        guard let due = self.due, due != .distantFuture else { return }
        if self.timer != nil && self.timerDue <= due { return }
        self.timer?.cancel()
        self.schedule(at: due)
    }

    private func schedule(at due: NIODeadline) {
        self.timerDue = due
        self.timer = self.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: due) { [self] in
            self.timer = nil
            self.timerDue = .distantFuture
            guard let exchange = self.exchange, let due = self.due else { return }
            let now = NIODeadline.now()
            if due > now {
                self.schedule(at: due)
            } else {
                self.fail(exchange.deadline <= now ? .deadlinePassed : .idleTimeout)
            }
        }
    }
}
