import Kafka
import WireFormat

/// A job the worker has taken from Kafka: the decoded ``Job`` with where it came from.
///
/// An immutable class: it is handed from the intake to the dispatcher, its scheduler, the job's task and its
/// attempts, and as a struct each of those copies (15 per plain job) retained every string of the job (issue 17).
public final class AdmittedJob: Sendable {
    /// The job.
    public let job: Job
    /// The input record's offset, registered with the ``OffsetTracker``.
    public let ticket: OffsetTracker.Ticket
    /// The input record's key.
    public let key: [UInt8]?
    /// The input record's headers (copied to every output).
    public let headers: [KafkaHeader]
    /// When the worker took the record.
    public let receivedAt: ContinuousClock.Instant
    /// The value's size in bytes (what the dispatcher's byte bound counts).
    public let size: Int

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
