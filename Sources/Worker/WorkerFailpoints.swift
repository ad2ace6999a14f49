import Kafka

/// Pauses at chosen points of a worker's path, for tests that must force a race that production timing leaves to
/// chance (the failpoints of FoundationDB and TiKV, reduced to what the tests need). Empty by default: a point costs
/// one `nil` check.
public struct WorkerFailpoints: Sendable {
    /// Awaited in the intake for each record the consumer handed out, before the record is registered with its
    /// partition's ownership: a test holds a record there while the partition is revoked or lost.
    public var beforeRegistering: (@Sendable (_ partition: KafkaTopicPartition, _ offset: Int64) async -> Void)?

    /// No failpoints.
    public init() {}
}
