import Kafka
import WireFormat

/// A job the worker has taken from Kafka: the decoded ``Job`` with where it came from.
public struct AdmittedJob: Sendable {
    /// The job.
    public var job: Job
    /// The input record's offset, registered with the ``OffsetTracker``.
    public var ticket: OffsetTracker.Ticket
    /// The input record's key.
    public var key: [UInt8]?
    /// The input record's headers (copied to every output).
    public var headers: [KafkaHeader]
    /// When the worker took the record.
    public var receivedAt: ContinuousClock.Instant
    /// The value's size in bytes (what the dispatcher's byte bound counts).
    public var size: Int

    /// Creates an admitted job.
    public init(
        job: Job,
        ticket: OffsetTracker.Ticket,
        key: [UInt8]?,
        headers: [KafkaHeader],
        receivedAt: ContinuousClock.Instant,
        size: Int
    ) {
        self.job = job
        self.ticket = ticket
        self.key = key
        self.headers = headers
        self.receivedAt = receivedAt
        self.size = size
    }

    /// Its place in the per-key order.
    var schedulingKey: KeyedScheduler<AdmittedJob>.Key {
        KeyedScheduler<AdmittedJob>.Key(partition: ticket.ownership, key: key, unique: ticket.offset)
    }
}
