/// A record to produce.
public struct KafkaProducerRecord: Sendable {
    /// The topic to write to.
    public var topic: String
    /// The partition, or `nil` to let the partitioner choose by key (librdkafka's `consistent_random`).
    public var partition: Int32?
    /// The key bytes, or `nil` for a null key.
    public var key: [UInt8]?
    /// The value bytes, or `nil` for a null value (a tombstone).
    public var value: [UInt8]?
    /// Headers, sent in this order.
    public var headers: [KafkaHeader]

    /// Creates a record.
    /// - Parameters:
    ///   - topic: The topic to write to.
    ///   - partition: The partition, or `nil` to choose by key. Default: `nil`.
    ///   - key: The key. Default: `nil`.
    ///   - value: The value. Default: `nil`.
    ///   - headers: The headers. Default: none.
    public init(
        topic: String,
        partition: Int32? = nil,
        key: [UInt8]? = nil,
        value: [UInt8]? = nil,
        headers: [KafkaHeader] = []
    ) {
        self.topic = topic
        self.partition = partition
        self.key = key
        self.value = value
        self.headers = headers
    }
}
