import NIOCore
import NIOHTTP1

/// What the HTTP handler should send for a request: a complete body or a stream of SSE events, possibly after a
/// delay, and which chat slot to give back when it is done.
struct EmulatorResponse: Sendable {
    enum Body: Sendable {
        case bytes(ByteBuffer)
        case events(EmulatorEventStream)
    }

    var status: HTTPResponseStatus
    var headers: HTTPHeaders
    var body: Body
    /// Time to wait before the response head (slow OAuth, the generation time of a non-streamed answer).
    var delay: TimeAmount = .zero
    /// The account whose chat slot ends with this response (see ``EmulatorState/admitChat(account:)``).
    var chatAccount: String?
}
