/// When a running job ends: at its own `deadline`, or when it has used `jobs.timeout` of its own time.
///
/// The job's own time starts when it first gets a GigaChat slot and counts its attempts and the backoff between
/// them. Waiting for a slot again (while the account's circuit is open or the adaptive limit is lowered) and for
/// the account's rate budget is the account's time, not the job's: ``pause(_:)`` moves the timeout's end by it, so
/// a backlog in the buffer or an outage of the account fails no job by itself. The job's own `deadline` is a wall
/// clock time the producer chose and never moves.
struct JobClock: Sendable {
    /// The job's own deadline, if it named one.
    let deadline: ContinuousClock.Instant?
    /// When `jobs.timeout` of the job's own time will have been used.
    private(set) var timeoutEnd: ContinuousClock.Instant

    /// Starts the clock for a job that got its first slot `now`.
    init(timeout: Duration, deadline: ContinuousClock.Instant?, now: ContinuousClock.Instant = .now) {
        self.deadline = deadline
        self.timeoutEnd = now + timeout
    }

    /// The earlier of the job's deadline and the timeout's end.
    var end: ContinuousClock.Instant {
        guard let deadline else { return timeoutEnd }
        return min(deadline, timeoutEnd)
    }

    /// Whether the job has run out of time at `now`.
    func hasEnded(at now: ContinuousClock.Instant = .now) -> Bool { now >= end }

    /// Does not count `duration` (spent waiting on the account) against the timeout.
    mutating func pause(_ duration: Duration) {
        guard duration > .zero else { return }
        timeoutEnd += duration
    }
}
