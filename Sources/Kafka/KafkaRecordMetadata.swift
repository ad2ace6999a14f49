/// Where the broker stored an acknowledged record.
public struct KafkaRecordMetadata: Sendable, Hashable {
    /// The topic.
    public var topic: String
    /// The partition the record went to.
    public var partition: Int32
    /// The record's offset in that partition.
    public var offset: Int64

    /// Creates record metadata.
    public init(topic: String, partition: Int32, offset: Int64) {
        self.topic = topic
        self.partition = partition
        self.offset = offset
    }

    /// The record's topic and partition.
    public var topicPartition: KafkaTopicPartition { KafkaTopicPartition(topic: topic, partition: partition) }
}
