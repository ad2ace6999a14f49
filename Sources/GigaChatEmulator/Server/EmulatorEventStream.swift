import NIOCore

/// A streamed answer, pre-rendered: each element of ``events`` is one complete `data: ...\n\n` event.
struct EmulatorEventStream: Sendable {
    var events: [ByteBuffer]
    var firstEventDelay: TimeAmount
    var eventDelay: TimeAmount
    /// Close the connection after this many events instead of finishing.
    var cutAfter: Int?
}
