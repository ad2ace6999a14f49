import NIOCore
import NIOHTTP1

/// One parsed HTTP request, body collected.
struct EmulatorRequest {
    var method: HTTPMethod
    /// The path without the query string.
    var path: String
    var headers: HTTPHeaders
    var body: ByteBuffer
}
