/// A coalesced piece of a streamed answer, on the partials topic (key = job id): DESIGN.md "Messages".
///
/// Readers rebuild an answer from the partials of one `attempt_id` in `seq` order; a new `attempt_id` (a retry,
/// or a re-run after a crash) starts again at `seq` 0.
public struct PartialRecord: Sendable, Hashable, Codable {
    /// The job's id.
    public var id: String
    /// Unique for every attempt of every worker process.
    public var attemptID: String
    /// The attempt's number within this worker (1 for the first).
    public var attempt: Int
    /// Counts from 0 within the attempt.
    public var seq: Int
    /// The text since the previous partial.
    public var delta: String
    /// Whether this is the attempt's last partial.
    public var isFinal: Bool

    /// Creates a partial.
    public init(id: String, attemptID: String, attempt: Int, seq: Int, delta: String, isFinal: Bool) {
        self.id = id
        self.attemptID = attemptID
        self.attempt = attempt
        self.seq = seq
        self.delta = delta
        self.isFinal = isFinal
    }

    private enum CodingKeys: String, CodingKey {
        case id, attempt, seq, delta
        case attemptID = "attempt_id"
        case isFinal = "final"
    }
}
