import NIOCore
import NIOHTTP1

/// The per-connection HTTP/1.1 handler: collects a request, asks the router for the response and writes it,
/// scheduling delayed parts on the connection's own event loop (no task or thread per connection).
///
/// `HTTPServerPipelineHandler` in front of it holds pipelined requests back until the previous response has
/// ended, so at most one response is in progress per connection.
final class EmulatorHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    /// Bodies above this are answered 413 (the real API documents limits in tens of megabytes).
    static let maximumBodySize = 64 * 1024 * 1024

    private let router: EmulatorRouter
    private var requestHead: HTTPRequestHead?
    private var requestBody: ByteBuffer?
    private var bodyTooLarge = false
    private var scheduled: Scheduled<Void>?
    private var chatAccount: String?
    /// The HTTP version of the request being answered (an HTTP/1.0 client gets a close-delimited stream, not
    /// chunked encoding it cannot read).
    private var version: HTTPVersion = .http1_1

    init(router: EmulatorRouter) {
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            requestHead = head
            requestBody = context.channel.allocator.buffer(capacity: 0)
            bodyTooLarge = false
            // curl and others wait up to a second for this before sending a large body.
            if head.headers[canonicalForm: "Expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                let interim = HTTPResponseHead(version: head.version, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var chunk):
            guard !bodyTooLarge, var body = requestBody else { return }
            if body.readableBytes + chunk.readableBytes > Self.maximumBodySize {
                bodyTooLarge = true
                requestBody = nil
            } else {
                requestBody = nil  // keep the buffer uniquely referenced so the append does not copy
                body.writeBuffer(&chunk)
                requestBody = body
            }
        case .end:
            guard let head = requestHead else { return }
            requestHead = nil
            version = head.version
            let body = requestBody ?? context.channel.allocator.buffer(capacity: 0)
            requestBody = nil
            let path =
                head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first
                .map(String.init) ?? head.uri
            let request = EmulatorRequest(method: head.method, path: path, headers: head.headers, body: body)
            let response =
                bodyTooLarge
                ? router.payloadTooLarge(request: request, allocator: context.channel.allocator)
                : router.respond(to: request, allocator: context.channel.allocator)
            start(response, keepAlive: head.isKeepAlive, context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        scheduled?.cancel()
        scheduled = nil
        finishChat(completed: false)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Writing

    private func start(_ response: EmulatorResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        chatAccount = response.chatAccount
        if response.delay > .zero {
            scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: response.delay) {
                self.scheduled = nil
                self.sendHead(response, keepAlive: keepAlive, context: context)
            }
        } else {
            sendHead(response, keepAlive: keepAlive, context: context)
        }
    }

    private func sendHead(_ response: EmulatorResponse, keepAlive: Bool, context: ChannelHandlerContext) {
        var headers = response.headers
        if !keepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }
        switch response.body {
        case .bytes(let body):
            headers.replaceOrAdd(name: "Content-Length", value: String(body.readableBytes))
            // The slot is given back before the last byte leaves, so a client that sends its next request the
            // moment it has read this answer is never counted twice.
            finishChat(completed: response.status == .ok)
            context.write(
                wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
                promise: nil
            )
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
            end(keepAlive: keepAlive, context: context)
        case .events(let stream):
            // No Content-Length: the HTTP/1.1 encoder sends the body chunked, one chunk per event.
            context.writeAndFlush(
                wrapOutboundOut(.head(HTTPResponseHead(version: version, status: response.status, headers: headers))),
                promise: nil
            )
            sendEvents(from: 0, of: stream, delay: stream.firstEventDelay, keepAlive: keepAlive, context: context)
        }
    }

    private func sendEvents(
        from first: Int,
        of stream: EmulatorEventStream,
        delay: TimeAmount,
        keepAlive: Bool,
        context: ChannelHandlerContext
    ) {
        if delay > .zero, first <= stream.events.count {
            scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: delay) {
                self.scheduled = nil
                self.sendEvents(from: first, of: stream, delay: .zero, keepAlive: keepAlive, context: context)
            }
            return
        }
        var index = first
        while true {
            if let cut = stream.cutAfter, index >= cut {
                router.state.count { $0.cutStreams += 1 }
                finishChat(completed: false)
                context.flush()
                context.close(promise: nil)
                return
            }
            if index == stream.events.count {
                finishChat(completed: true)
                end(keepAlive: keepAlive, context: context)
                return
            }
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(stream.events[index]))), promise: nil)
            index += 1
            if stream.eventDelay > .zero, index < stream.events.count {
                let next = index
                scheduled = context.eventLoop.assumeIsolated().scheduleTask(in: stream.eventDelay) {
                    self.scheduled = nil
                    self.sendEvents(from: next, of: stream, delay: .zero, keepAlive: keepAlive, context: context)
                }
                return
            }
        }
    }

    private func end(keepAlive: Bool, context: ChannelHandlerContext) {
        if keepAlive {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        } else {
            let written = context.eventLoop.makePromise(of: Void.self)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
            written.futureResult.assumeIsolated().whenComplete { _ in
                context.close(promise: nil)
            }
        }
    }

    private func finishChat(completed: Bool) {
        guard let account = chatAccount else { return }
        chatAccount = nil
        router.state.finishChat(account: account, completed: completed)
    }
}
