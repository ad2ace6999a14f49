import NIOCore
import NIOHTTP1

/// NIO's HTTP/1.1 response decoder without its watch on the pipeline's outbound writes.
///
/// ``HTTP1Connection`` writes each request as bytes of its own making, in one write, rather than as parts through
/// NIO's request encoder (issue 17: the encoder and the decoder's watch on every part cost a plain call 30,000
/// instructions). The decoder still has to know a response's request (a `HEAD`'s answer has no body, and an answer
/// with no request is refused), so the connection tells it of each request itself
/// (``HTTP1Connection/start(_:)``).
struct HTTP1ResponseDecoding: ByteToMessageDecoder {
    typealias InboundOut = HTTPClientResponsePart

    /// The decoder, shared with the connection that tells it of requests (both on the channel's event loop).
    let decoder: HTTPResponseDecoder

    mutating func decoderAdded(context: ChannelHandlerContext) {
        self.decoder.decoderAdded(context: context)
    }

    mutating func decoderRemoved(context: ChannelHandlerContext) {
        self.decoder.decoderRemoved(context: context)
    }

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        try self.decoder.decode(context: context, buffer: &buffer)
    }

    mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        try self.decoder.decodeLast(context: context, buffer: &buffer, seenEOF: seenEOF)
    }
}
