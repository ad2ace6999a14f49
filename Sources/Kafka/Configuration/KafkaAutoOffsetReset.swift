/// Where a consumer group starts reading a partition that has no committed offset (`auto.offset.reset`).
public enum KafkaAutoOffsetReset: String, Sendable {
    /// From the oldest record still stored.
    case earliest
    /// From the next record produced.
    case latest
    /// Report an error instead.
    case error
}
