/// Something that happened to a ``KafkaConsumer`` other than a message arriving.
public enum KafkaConsumerEvent: Sendable {
    /// Partitions were assigned; sent after the assignment was applied. With the cooperative protocol this
    /// lists only the partitions added, with the eager ones (range, round robin) the whole new assignment.
    case assigned([KafkaTopicPartition])
    /// Partitions are being revoked; sent before they are removed. Messages of these partitions still buffered
    /// and not yet handed out are dropped (the next owner reads them again from the committed offset).
    case revoked([KafkaTopicPartition])
    /// A non-fatal error reported by librdkafka (it keeps retrying), or a fatal one before the messages end.
    case error(KafkaError)
}
