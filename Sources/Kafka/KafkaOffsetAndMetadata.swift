/// A committed (or to-be-committed) position of a partition: the next offset to read, and the application's
/// metadata string stored with it by the group coordinator (Kafka's `OffsetAndMetadata`). Kafka refuses the
/// partition's commit with `OFFSET_METADATA_TOO_LARGE` when the string is longer than `offset.metadata.max.bytes`
/// (4,096 bytes by default); some brokers keep none of it (Tansu 0.6).
public struct KafkaOffsetAndMetadata: Sendable, Hashable {
    /// The next offset to read: the last processed offset + 1.
    public var offset: Int64
    /// The metadata committed with it; `nil` or empty for none.
    public var metadata: String?

    /// Creates a position.
    public init(offset: Int64, metadata: String? = nil) {
        self.offset = offset
        self.metadata = metadata
    }
}
