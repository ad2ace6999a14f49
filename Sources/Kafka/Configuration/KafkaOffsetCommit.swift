/// How a ``KafkaConsumer`` commits offsets. Offsets never move on their own: the application stores or commits
/// them (`enable.auto.offset.store=false` always).
public enum KafkaOffsetCommit: Sendable, Hashable {
    /// Only ``KafkaConsumer/commit(_:)`` and ``KafkaConsumer/commitAsync(_:)`` commit
    /// (`enable.auto.commit=false`).
    case explicit
    /// librdkafka commits the offsets the application stored with ``KafkaConsumer/storeOffsets(_:)``: every
    /// `interval` (`enable.auto.commit=true`, `auto.commit.interval.ms`), when partitions are revoked (after the
    /// revocation handler ran, before they are given up) and when the consumer closes. This is librdkafka's own
    /// at-least-once pattern; commits are asynchronous and never block the application.
    case storedOffsets(interval: Duration)
}
