import Kafka

/// One ownership of a partition by this worker: the partition, and the epoch its assignment opened.
///
/// Made only by ``OffsetTracker/assign(_:committed:)`` (the consumer's assignment hook), never on first sight of a
/// record. Every job carries the ownership it was read in (in its ``OffsetTracker/Ticket``), so a revocation reaches
/// exactly the jobs of the ownership it ends, and a job of an earlier ownership cannot complete an offset of a
/// later one of the same partition.
public struct PartitionOwnership: Sendable, Hashable, CustomStringConvertible {
    /// The partition.
    public let partition: KafkaTopicPartition
    /// Which of this worker's ownerships of the partition (increasing over the worker's life).
    public let epoch: UInt64

    init(partition: KafkaTopicPartition, epoch: UInt64) {
        self.partition = partition
        self.epoch = epoch
    }

    /// `topic[partition]#epoch`.
    public var description: String { "\(partition)#\(epoch)" }
}
