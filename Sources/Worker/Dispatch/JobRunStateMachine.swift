import GigaChat
import WireFormat

/// The decisions of one job's run, without I/O, clocks or randomness: each event in, the next step out (in the
/// style of async-http-client's `Transaction+StateMachine`). ``JobRunner`` drives it: it waits, makes the calls,
/// and publishes the one completion the machine ends with; the machine decides attempts, backoffs, the circuit's
/// waits and how the job ends, so every path of a run has a unit test without a broker or GigaChat.
///
/// ```
/// ready ──budget──▶ attempting ──answered──▶ finished(answered)
///   ▲         ▲         │ answered, breaks the output format ─▶ ready for a corrective attempt (slot kept),
///   │         └─────────┘   or, past `structured.corrections`, finished(failed invalid_output)
///   ▲                   │ failed: permanent ─▶ finished(failed)      clock ended at any step ─▶ finished(deadline)
///   │                   │ failed: transient ─▶ waiting (backoff, then a slot)
///   └──── slot taken ───┘ failed: circuit open or account fault ─▶ waiting (a slot; not counted)
/// ```
/// Cancellation at any step (revocation, forced shutdown) stops the run: nothing is published.
struct JobRunStateMachine {
    /// The retry settings (`retry.*`).
    struct Settings: Sendable {
        var maxAttempts: Int
        var initialBackoff: Duration
        var maximumBackoff: Duration
        /// Corrective attempts for an answer that breaks the job's output format (`structured.corrections`).
        var maxCorrections: Int = 1
    }

    /// What the runner does next.
    enum Step: Equatable {
        /// Wait for the account's budget (rates, fleet share), then call ``budgetGranted(clockEnded:cancelled:)``.
        case waitForBudget
        /// Make this attempt (the slot is held), then call one of the `attempt…` events.
        case attempt(number: Int)
        /// Give the slot back, wait this long, take a slot again (only the job's own deadline ends that wait), then
        /// call ``slotWaitEnded(_:clockEnded:cancelled:)``. `counted`: the attempt counts against `retry.max_attempts` (not when the
        /// account's circuit is open or the fault is the account's).
        case retry(after: Duration, counted: Bool)
        /// Give the slot back and wait until the job's clock ends (the backoff would outlast it), then call
        /// ``deadlineWaitEnded(cancelled:)``.
        case waitForDeadline
        /// Give the slot back and publish this ending (for an answer: its partials first).
        case finish(Ending)
        /// Cancelled: give the slot back; nothing is published.
        case stop
    }

    /// How a job ends.
    enum Ending: Equatable {
        /// Answered by attempt `attempts`.
        case answered(attempts: Int)
        /// Failed permanently, or retries exhausted (`exhausted`).
        case failed(CompletionRecord.Failure, attempts: Int, exhausted: Bool)
        /// The job's deadline (or `jobs.timeout`) passed; `cause` is the last attempt's error, if it failed.
        case deadlineExceeded(attempts: Int, cause: GigaChatError?)
    }

    private enum State: Equatable {
        case ready
        case waitingForBudget
        case attempting
        case waiting
        case finished
    }

    private let settings: Settings
    private var state = State.ready
    /// Calls made.
    private(set) var attempts = 0
    /// Calls that count against `retry.max_attempts`.
    private var countedAttempts = 0
    /// Corrective attempts made.
    private(set) var corrections = 0
    private var lastFailure: GigaChatError?

    init(settings: Settings) {
        self.settings = settings
    }

    /// The run starts, or goes on after a slot was taken again.
    mutating func ready(clockEnded: Bool, cancelled: Bool) -> Step {
        precondition(state == .ready, "ready(…) in state \(state)")
        if cancelled { return stop() }
        // The deadline passing before an attempt is the job's clock, not the last failure's.
        if clockEnded { return finish(.deadlineExceeded(attempts: attempts, cause: nil)) }
        state = .waitingForBudget
        return .waitForBudget
    }

    /// The account's budget let the attempt go.
    mutating func budgetGranted(clockEnded: Bool, cancelled: Bool) -> Step {
        precondition(state == .waitingForBudget, "budgetGranted(…) in state \(state)")
        if cancelled { return stop() }
        if clockEnded { return finish(.deadlineExceeded(attempts: attempts, cause: nil)) }
        attempts += 1
        state = .attempting
        return .attempt(number: attempts)
    }

    /// The attempt answered (also when the deadline passed as it did: the answer was paid for).
    mutating func attemptAnswered() -> Step {
        precondition(state == .attempting, "attemptAnswered() in state \(state)")
        return finish(.answered(attempts: attempts))
    }

    /// The attempt answered, but the answer breaks the job's output format (not JSON, not the schema, not the
    /// regular expression): another attempt, told what was wrong, goes through the budget with the slot kept, while
    /// `structured.corrections` allow and the clock runs; else the job fails `invalid_output` naming `violation`.
    mutating func attemptAnsweredInvalid(_ violation: String, clockEnded: Bool, cancelled: Bool) -> Step {
        precondition(state == .attempting, "attemptAnsweredInvalid(…) in state \(state)")
        if cancelled { return stop() }
        guard corrections < settings.maxCorrections, !clockEnded else {
            let after =
                corrections == 0 ? "" : " (after \(corrections) corrective attempt\(corrections == 1 ? "" : "s"))"
            let reason = CompletionRecord.Failure(code: .invalidOutput, message: "\(violation)\(after)")
            return finish(.failed(reason, attempts: attempts, exhausted: corrections > 0))
        }
        corrections += 1
        state = .waitingForBudget
        return .waitForBudget
    }

    /// The attempt answered, but `max_tokens` cut the answer of a job with an output format: it cannot be parsed,
    /// and a correction would be cut the same way, so the job fails `truncated`.
    mutating func attemptAnsweredTruncated() -> Step {
        precondition(state == .attempting, "attemptAnsweredTruncated() in state \(state)")
        let reason = CompletionRecord.Failure(
            code: .truncated,
            message: "the answer was cut by max_tokens (finish_reason length); raise options.max_tokens"
        )
        return finish(.failed(reason, attempts: attempts, exhausted: false))
    }

    /// The attempt was cut by the job's clock before it answered.
    mutating func attemptExpired() -> Step {
        precondition(state == .attempting, "attemptExpired() in state \(state)")
        return finish(.deadlineExceeded(attempts: attempts, cause: nil))
    }

    /// The attempt was cancelled (the run's task was).
    mutating func attemptCancelled() -> Step {
        stop()
    }

    /// The attempt failed.
    /// - Parameters:
    ///   - error: The failure.
    ///   - circuitOpen: Whether the account's circuit is open after this failure was counted.
    ///   - clockEnded: Whether the job's clock has ended.
    ///   - untilClockEnd: The time left on the job's clock (`nil`: no end).
    ///   - random: The jitter draw, 0...1.
    mutating func attemptFailed(
        _ error: GigaChatError,
        circuitOpen: Bool,
        clockEnded: Bool,
        untilClockEnd: Duration?,
        random: Double
    ) -> Step {
        precondition(state == .attempting, "attemptFailed(…) in state \(state)")
        lastFailure = error
        if clockEnded { return finish(.deadlineExceeded(attempts: attempts, cause: error)) }
        switch FailurePolicy.decide(error) {
        case .fail(let reason):
            return finish(.failed(reason, attempts: attempts, exhausted: false))
        case .retry(let retryAfter) where !circuitOpen:
            countedAttempts += 1
            guard countedAttempts < settings.maxAttempts else {
                var reason = FailurePolicy.failure(for: error)
                reason.message = "gave up after \(attempts) attempts: \(reason.message)"
                return finish(.failed(reason, attempts: attempts, exhausted: true))
            }
            let wait = FailurePolicy.backoff(
                attempt: countedAttempts,
                initial: settings.initialBackoff,
                maximum: settings.maximumBackoff,
                retryAfter: retryAfter,
                random: random
            )
            state = .waiting
            if wait > .zero, let untilClockEnd, wait >= untilClockEnd { return .waitForDeadline }
            return .retry(after: wait, counted: true)
        case .retry, .accountFault:
            // The account's circuit is open (or the fault is the account's): the job waits for a slot, which comes
            // back when a probe may go out or the circuit closes; the attempt is not counted against it.
            state = .waiting
            return .retry(after: .zero, counted: false)
        }
    }

    /// The wait for the job's clock to end (a backoff longer than the time left) ended.
    mutating func deadlineWaitEnded(cancelled: Bool) -> Step {
        precondition(state == .waiting, "deadlineWaitEnded(…) in state \(state)")
        if cancelled { return stop() }
        return finish(.deadlineExceeded(attempts: attempts, cause: lastFailure))
    }

    /// The backoff and the wait for a slot ended (for ``SlotHold/Reacquired/acquired``, after the job's clock was
    /// paused for the wait: it was the account's time).
    mutating func slotWaitEnded(_ result: SlotHold.Reacquired, clockEnded: Bool, cancelled: Bool) -> Step {
        precondition(state == .waiting, "slotWaitEnded(…) in state \(state)")
        switch result {
        case .acquired:
            state = .ready
            return ready(clockEnded: clockEnded, cancelled: cancelled)
        case .expired:
            return finish(.deadlineExceeded(attempts: attempts, cause: lastFailure))
        case .cancelled:
            return stop()
        }
    }

    private mutating func finish(_ ending: Ending) -> Step {
        state = .finished
        return .finish(ending)
    }

    private mutating func stop() -> Step {
        state = .finished
        return .stop
    }
}
