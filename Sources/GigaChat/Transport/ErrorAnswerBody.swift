import NIOCore

/// The body of an error answer (a non-2xx status), kept for its message: at most ``limit`` bytes, the rest read and
/// dropped. Whatever came is enough: an error's status decides the call's error even when its body does not come
/// whole.
struct ErrorAnswerBody {
    /// The most bytes kept.
    static let limit = 64 * 1024

    private(set) var bytes = ByteBuffer()

    mutating func append(_ part: ByteBuffer) {
        var part = part
        let room = Self.limit - self.bytes.readableBytes
        if room > 0, let kept = part.readSlice(length: min(room, part.readableBytes)) {
            self.bytes.writeImmutableBuffer(kept)
        }
    }
}
