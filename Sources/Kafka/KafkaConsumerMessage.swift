import struct Foundation.Date

/// A record read by a ``KafkaConsumer``.
public struct KafkaConsumerMessage: Sendable {
    /// The topic it was read from.
    public var topic: String
    /// The partition it was read from.
    public var partition: Int32
    /// Its offset; commit `offset + 1` once it is processed.
    public var offset: Int64
    /// The key bytes, or `nil` for a null key.
    public var key: [UInt8]?
    /// The value bytes, or `nil` for a null value.
    public var value: [UInt8]?
    /// The headers, in record order.
    public var headers: [KafkaHeader]
    /// The record timestamp (create or log-append time, as the topic is configured), if it has one.
    public var timestamp: Date?

    /// Creates a message (the consumer does this; public for tests of code that handles messages).
    public init(
        topic: String,
        partition: Int32,
        offset: Int64,
        key: [UInt8]? = nil,
        value: [UInt8]? = nil,
        headers: [KafkaHeader] = [],
        timestamp: Date? = nil
    ) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
    }

    /// The message's topic and partition.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }

    /// Bytes of key, value and headers plus a fixed overhead: what the consumer buffer's byte bound counts.
    var approximateSize: Int {
        var size = (key?.count ?? 0) + (value?.count ?? 0) + 64
        for header in headers { size += header.key.utf8.count + (header.value?.count ?? 0) }
        return size
    }
}
