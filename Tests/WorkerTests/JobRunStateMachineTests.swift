import GigaChat
import Testing
import WireFormat

@testable import Worker

/// Every path of one job's run, without a broker, GigaChat or clocks.
@Suite struct JobRunStateMachineTests {
    let settings = JobRunStateMachine.Settings(
        maxAttempts: 3,
        initialBackoff: .seconds(1),
        maximumBackoff: .seconds(8)
    )
    let rateLimited = GigaChatError(code: .rateLimited, message: "Too many requests", httpStatus: 429)
    let serverError = GigaChatError(code: .server, message: "Internal Server Error", httpStatus: 500)
    let badRequest = GigaChatError(code: .badRequest, message: "bad", httpStatus: 400)
    let paymentRequired = GigaChatError(code: .paymentRequired, message: "Payment Required", httpStatus: 402)

    /// Starts a run and lets its first attempt go.
    private func started() -> JobRunStateMachine {
        var machine = JobRunStateMachine(settings: settings)
        #expect(machine.ready(clockEnded: false, cancelled: false) == .waitForBudget)
        #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: 1))
        return machine
    }

    private func failOnce(
        _ machine: inout JobRunStateMachine,
        _ error: GigaChatError,
        circuitOpen: Bool = false,
        untilClockEnd: Duration = .seconds(60),
        random: Double = 1
    ) -> JobRunStateMachine.Step {
        machine.attemptFailed(
            error,
            circuitOpen: circuitOpen,
            clockEnded: false,
            untilClockEnd: untilClockEnd,
            random: random
        )
    }

    @Test func aFirstAnswerEndsTheJob() {
        var machine = started()
        #expect(machine.attemptAnswered() == .finish(.answered(attempts: 1)))
    }

    @Test func anAnswerBreakingTheFormatGetsCorrectiveAttemptsThenFailsInvalidOutput() {
        var twice = settings
        twice.maxCorrections = 2
        var machine = JobRunStateMachine(settings: twice)
        _ = machine.ready(clockEnded: false, cancelled: false)
        _ = machine.budgetGranted(clockEnded: false, cancelled: false)
        // A correction goes through the budget again, with the slot kept (no retry step), and counts as an attempt.
        #expect(machine.attemptAnsweredInvalid("bad", clockEnded: false, cancelled: false) == .waitForBudget)
        #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: 2))
        #expect(machine.attemptAnsweredInvalid("bad", clockEnded: false, cancelled: false) == .waitForBudget)
        #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: 3))
        let failure = CompletionRecord.Failure(code: .invalidOutput, message: "still bad (after 2 corrective attempts)")
        #expect(
            machine.attemptAnsweredInvalid("still bad", clockEnded: false, cancelled: false)
                == .finish(.failed(failure, attempts: 3, exhausted: true))
        )
        // A corrected answer ends the job as usual.
        var fixed = started()
        _ = fixed.attemptAnsweredInvalid("bad", clockEnded: false, cancelled: false)
        _ = fixed.budgetGranted(clockEnded: false, cancelled: false)
        #expect(fixed.attemptAnswered() == .finish(.answered(attempts: 2)))
    }

    @Test func noCorrectionPastTheClockOrForACutAnswer() {
        var late = started()
        #expect(
            late.attemptAnsweredInvalid("bad", clockEnded: true, cancelled: false)
                == .finish(.failed(.init(code: .invalidOutput, message: "bad"), attempts: 1, exhausted: false))
        )
        var cancelled = started()
        #expect(cancelled.attemptAnsweredInvalid("bad", clockEnded: false, cancelled: true) == .stop)
        var cut = started()
        guard case .finish(.failed(let reason, attempts: 1, exhausted: false)) = cut.attemptAnsweredTruncated() else {
            Issue.record("a cut answer ends the job")
            return
        }
        #expect(reason.code == .truncated)
    }

    @Test func transientFailuresAreRetriedAfterAGrowingBackoffThenAnswered() {
        var machine = started()
        // Full jitter at its top (random 1): the ceiling doubles from the initial backoff.
        #expect(failOnce(&machine, serverError) == .retry(after: .seconds(1), counted: true))
        #expect(machine.slotWaitEnded(.acquired, clockEnded: false, cancelled: false) == .waitForBudget)
        #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: 2))
        #expect(failOnce(&machine, rateLimited) == .retry(after: .seconds(2), counted: true))
        _ = machine.slotWaitEnded(.acquired, clockEnded: false, cancelled: false)
        #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: 3))
        #expect(machine.attemptAnswered() == .finish(.answered(attempts: 3)))
    }

    @Test func aServersRetryAfterIsTheLeastWait() {
        var machine = started()
        let asked = GigaChatError(code: .rateLimited, message: "slow down", httpStatus: 429, retryAfter: .seconds(5))
        #expect(failOnce(&machine, asked, random: 0) == .retry(after: .seconds(5), counted: true))
    }

    @Test func aPermanentFailureEndsTheJobWithItsCode() {
        var machine = started()
        let step = failOnce(&machine, badRequest)
        guard case .finish(.failed(let reason, let attempts, let exhausted)) = step else {
            Issue.record("got \(step)")
            return
        }
        #expect(reason.code == .badRequest && reason.httpStatus == 400 && attempts == 1 && !exhausted)
    }

    @Test func retriesEndAfterMaxAttemptsWithTheLastErrorAndTheCount() {
        var machine = started()
        for number in 2...3 {
            #expect(failOnce(&machine, serverError).isCountedRetry)
            _ = machine.slotWaitEnded(.acquired, clockEnded: false, cancelled: false)
            #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: number))
        }
        let step = failOnce(&machine, serverError)
        guard case .finish(.failed(let reason, let attempts, let exhausted)) = step else {
            Issue.record("got \(step)")
            return
        }
        #expect(reason.code == .serverError && attempts == 3 && exhausted)
        #expect(reason.message.hasPrefix("gave up after 3 attempts"))
    }

    @Test func whileTheCircuitIsOpenOrTheAccountIsAtFaultAttemptsAreNotCounted() {
        var machine = started()
        // Ten failures with the circuit open, or of the account (402): none counts against the 3 attempts.
        for number in 2...11 {
            let step =
                number % 2 == 0
                ? failOnce(&machine, serverError, circuitOpen: true)
                : failOnce(&machine, paymentRequired)
            #expect(step == .retry(after: .zero, counted: false))
            _ = machine.slotWaitEnded(.acquired, clockEnded: false, cancelled: false)
            #expect(machine.budgetGranted(clockEnded: false, cancelled: false) == .attempt(number: number))
        }
        #expect(machine.attemptAnswered() == .finish(.answered(attempts: 11)))
    }

    @Test func aBackoffLongerThanTheTimeLeftWaitsForTheDeadlineAndNamesTheLastError() {
        var machine = started()
        #expect(failOnce(&machine, serverError, untilClockEnd: .milliseconds(500)) == .waitForDeadline)
        #expect(
            machine.deadlineWaitEnded(cancelled: false) == .finish(.deadlineExceeded(attempts: 1, cause: serverError))
        )
    }

    @Test func theDeadlineEndsTheJobAtEveryStep() {
        // Before the first attempt: never called.
        var before = JobRunStateMachine(settings: settings)
        #expect(before.ready(clockEnded: true, cancelled: false) == .finish(.deadlineExceeded(attempts: 0, cause: nil)))
        // While waiting for the budget.
        var budget = JobRunStateMachine(settings: settings)
        _ = budget.ready(clockEnded: false, cancelled: false)
        #expect(
            budget.budgetGranted(clockEnded: true, cancelled: false)
                == .finish(.deadlineExceeded(attempts: 0, cause: nil))
        )
        // During an attempt that had not answered.
        var during = started()
        #expect(during.attemptExpired() == .finish(.deadlineExceeded(attempts: 1, cause: nil)))
        // Right after a failure.
        var after = started()
        let step = after.attemptFailed(
            serverError,
            circuitOpen: false,
            clockEnded: true,
            untilClockEnd: .zero,
            random: 1
        )
        #expect(step == .finish(.deadlineExceeded(attempts: 1, cause: serverError)))
        // While waiting for a slot (the circuit open).
        var waiting = started()
        _ = failOnce(&waiting, serverError, circuitOpen: true)
        #expect(
            waiting.slotWaitEnded(.expired, clockEnded: true, cancelled: false)
                == .finish(.deadlineExceeded(attempts: 1, cause: serverError))
        )
        // With a slot taken again, but the clock run out.
        var late = started()
        _ = failOnce(&late, serverError)
        #expect(
            late.slotWaitEnded(.acquired, clockEnded: true, cancelled: false)
                == .finish(.deadlineExceeded(attempts: 1, cause: nil))
        )
    }

    @Test func cancellationAtAnyStepStopsWithoutAnEnding() {
        var first = JobRunStateMachine(settings: settings)
        #expect(first.ready(clockEnded: false, cancelled: true) == .stop)
        var budget = JobRunStateMachine(settings: settings)
        _ = budget.ready(clockEnded: false, cancelled: false)
        #expect(budget.budgetGranted(clockEnded: true, cancelled: true) == .stop, "cancellation wins over the deadline")
        var attempting = started()
        #expect(attempting.attemptCancelled() == .stop)
        var backingOff = started()
        _ = failOnce(&backingOff, serverError)
        #expect(backingOff.slotWaitEnded(.cancelled, clockEnded: false, cancelled: true) == .stop)
        var deadlineWait = started()
        _ = failOnce(&deadlineWait, serverError, untilClockEnd: .milliseconds(1))
        #expect(deadlineWait.deadlineWaitEnded(cancelled: true) == .stop)
    }
}

extension JobRunStateMachine.Step {
    fileprivate var isCountedRetry: Bool {
        if case .retry(_, counted: true) = self { true } else { false }
    }
}
