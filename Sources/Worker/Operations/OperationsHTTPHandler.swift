import NIOCore
import NIOHTTP1
import Prometheus

/// One connection of the operations server: answers each request from the registry or the readiness check.
final class OperationsHTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let registry: PrometheusCollectorRegistry
    private let readiness: OperationsServer.Readiness
    private var head: HTTPRequestHead?

    init(registry: PrometheusCollectorRegistry, readiness: @escaping OperationsServer.Readiness) {
        self.registry = registry
        self.readiness = readiness
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
        case .body:
            break
        case .end:
            guard let head else { return }
            self.head = nil
            let path = head.uri.split(separator: "?").first.map(String.init) ?? head.uri
            let (status, contentType, body): (HTTPResponseStatus, String, [UInt8])
            switch (head.method, path) {
            case (.GET, "/metrics"):
                (status, contentType, body) = (.ok, "text/plain; version=0.0.4; charset=utf-8", registry.emitToBuffer())
            case (.GET, "/healthz"):
                (status, contentType, body) = (.ok, "text/plain; charset=utf-8", Array("ok\n".utf8))
            case (.GET, "/readyz"):
                let (ready, reason) = readiness()
                (status, contentType, body) = (
                    ready ? .ok : .serviceUnavailable, "text/plain; charset=utf-8", Array((reason + "\n").utf8)
                )
            default:
                (status, contentType, body) = (.notFound, "text/plain; charset=utf-8", Array("not found\n".utf8))
            }
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(body.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}
