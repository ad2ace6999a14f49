/// Partitions a ``KafkaConsumer`` is about to give up, as passed to its revocation handler.
public struct KafkaConsumerRevocation: Sendable, Hashable {
    /// The partitions being revoked (with the eager protocols, the whole assignment).
    public var partitions: [KafkaTopicPartition]
    /// Whether the assignment was lost rather than handed over: the member was fenced out of the group
    /// (session timeout, unknown member) and others may own the partitions already, so committing their
    /// offsets now could overwrite the new owner's progress.
    public var isLost: Bool

    /// Creates a revocation.
    public init(partitions: [KafkaTopicPartition], isLost: Bool) {
        self.partitions = partitions
        self.isLost = isLost
    }
}
