import Foundation
import GigaChat
import Kafka
import Logging
import WireFormat

/// Runs one admitted job from its start to its acknowledged completion: attempts, backoff, deadline, streaming.
///
/// The job starts holding a GigaChat slot. Each attempt is one call (the client does no retries of its own in the
/// worker); a transient failure gives the slot back, waits (full-jitter backoff, at least `Retry-After`) and
/// asks for a slot again. A streamed attempt publishes coalesced partials under its own `attempt_id`; the
/// completion names the attempt whose partials were all acknowledged (a partial the broker refused is published
/// again, not generated again: output failures are not GigaChat attempts). The slot is given back as soon as the
/// answer is in, before the completion is published; the run ends when the completion is acknowledged (then the
/// offset counts as done, ``OutcomePublisher``) or when the task is cancelled (revocation, forced shutdown), which
/// publishes nothing.
///
/// A class: the runner is captured by every job's task and attempt, and as a struct each capture copied the whole
/// configuration (about a hundred retains of its strings per plain job, issue 17).
final class JobRunner<Chat: ChatCompleting>: Sendable {
    let client: Chat
    let publisher: OutcomePublisher
    let dispatcher: Dispatcher
    let configuration: WorkerConfiguration
    let metrics: WorkerMetrics
    let deadlines: AttemptDeadlines
    let flow: FlowController
    let logger: Logger

    init(
        client: Chat,
        publisher: OutcomePublisher,
        dispatcher: Dispatcher,
        configuration: WorkerConfiguration,
        metrics: WorkerMetrics,
        deadlines: AttemptDeadlines,
        flow: FlowController,
        logger: Logger
    ) {
        self.client = client
        self.publisher = publisher
        self.dispatcher = dispatcher
        self.configuration = configuration
        self.metrics = metrics
        self.deadlines = deadlines
        self.flow = flow
        self.logger = logger
    }

    /// What one attempt produced.
    private enum AttemptResult {
        case answered(AttemptAnswer)
        case failed(GigaChatError)
        case cancelled
    }

    /// Runs the job; it holds one slot when called. The decisions are ``JobRunStateMachine``'s; this drives it:
    /// it waits, makes the calls, and ends in one place (``finish(_:_:)``) or stops (cancelled: nothing published).
    func run(_ admitted: AdmittedJob) async {
        let slot = SlotHold(dispatcher: dispatcher)
        metrics.jobsInFlight.increment()
        defer {
            slot.release()
            metrics.jobsInFlight.decrement()
            dispatcher.finishKey(admitted.schedulingKey)
        }
        let job = admitted.job
        // Metadata is made only when something is logged (most jobs log nothing).
        let logger = JobLogger(logger: self.logger, jobID: admitted.job.id, ticket: admitted.ticket)
        var clock = JobClock(timeout: configuration.jobTimeout, deadline: jobDeadline(admitted))
        var request: ChatRequest
        let format: ResponseFormat?
        do {
            request = try ChatRequest(model: job.model, messages: job.messages, options: job.options)
            request.api = job.api  // nil: the client's configured default (gigachat.api)
            format = try ResponseFormat.requested(in: job.options, api: job.api ?? configuration.gigachat.api)
        } catch {
            // The decoder checked the options already; this is a last guard.
            slot.release()
            await finish(admitted, failed(admitted, code: .badRequest, message: "\(error)", attempts: 0))
            return
        }
        let stream = job.kind == .chat && (job.stream ?? configuration.streamByDefault)
        let estimatedTokens = Self.estimatedPromptTokens(job)
        var machine = JobRunStateMachine(
            settings: .init(
                maxAttempts: configuration.maxAttempts,
                initialBackoff: configuration.initialBackoff,
                maximumBackoff: configuration.maxBackoff,
                maxCorrections: configuration.structuredCorrections
            )
        )
        var answer: AttemptAnswer?
        /// Usage of every answered call of the job, corrective ones included: they were all paid for.
        var spent: ChatUsage?
        var attemptID = ""
        // What every attempt sends (the session of a shared prefix, the trace), worked out once per job; each attempt
        // adds its own id.
        let jobHeaders = requestHeaders(admitted)
        var step = machine.ready(clockEnded: clock.hasEnded(), cancelled: Task.isCancelled)
        while true {
            switch step {
            case .waitForBudget:
                let budgetWait = ContinuousClock.now
                await flow.beforeAttempt(estimatedTokens: estimatedTokens)
                clock.pause(.now - budgetWait)
                step = machine.budgetGranted(clockEnded: clock.hasEnded(), cancelled: Task.isCancelled)

            case .attempt(let number):
                metrics.attempts.increment()
                attemptID = BufferedRandom.uuid().lowercasedString
                let id = attemptID
                var headers = jobHeaders
                headers.requestID = id
                let (result, expired) = await deadlines.run(until: clock.end) { [self, request, headers] in
                    switch (job.kind, stream) {
                    case (.embeddings, _): await embeddingsAttempt(admitted, headers: headers)
                    case (.chat, true):
                        await streamAttempt(request, admitted, headers: headers, attemptID: id, attempt: number)
                    case (.chat, false): await plainAttempt(request, headers: headers)
                    }
                }
                switch result {
                case .answered(var answered):
                    // An answer that came in as the deadline passed is kept: it was paid for.
                    flow.afterAttempt(
                        .answered(totalTokens: answered.usage?.totalTokens),
                        estimatedTokens: estimatedTokens
                    )
                    spent = Self.adding(answered.usage, to: spent)
                    answered.usage = spent
                    answer = answered
                    switch Self.verdict(of: answered, format: format) {
                    case .valid(let parsed):
                        answer?.parsed = parsed
                        step = machine.attemptAnswered()
                    case .truncated:
                        step = machine.attemptAnsweredTruncated()
                    case .invalid(let violation):
                        step = machine.attemptAnsweredInvalid(
                            violation,
                            clockEnded: clock.hasEnded(),
                            cancelled: Task.isCancelled
                        )
                        if case .waitForBudget = step, let format {
                            metrics.corrections.increment()
                            // The violation may quote the answer: logged only where content may be.
                            logger.debug(
                                "Answer breaks the output format; correcting",
                                metadata: configuration.logContent ? ["violation": "\(violation)"] : [:]
                            )
                            request.messages += [.assistant(answered.content), format.correction(for: violation)]
                        }
                    }
                    // The answer stands (kept, or failed beside it): its stream gets its final partial.
                    if case .finish = step { await answered.partials?.finish() }
                case _ where expired:
                    step = machine.attemptExpired()
                case .cancelled:
                    step = machine.attemptCancelled()
                case .failed where Task.isCancelled:
                    step = machine.attemptCancelled()
                case .failed(let error):
                    let circuitOpen = flow.afterAttempt(
                        Self.outcome(FailurePolicy.decide(error), error),
                        estimatedTokens: estimatedTokens
                    )
                    step = machine.attemptFailed(
                        error,
                        circuitOpen: circuitOpen,
                        clockEnded: clock.hasEnded(),
                        untilClockEnd: clock.end - .now,
                        random: Double.random(in: 0...1)
                    )
                    if case .waitForDeadline = step { metrics.retries.increment() }
                    if case .retry(let wait, let counted) = step {
                        if counted { metrics.retries.increment() }
                        logger.debug(
                            "Attempt failed; retrying",
                            metadata: [
                                "attempt": "\(number)", "error": "\(FailurePolicy.code(for: error.code))",
                                "retry_in_ms": "\(wait.milliseconds)", "circuit_open": "\(circuitOpen)",
                            ]
                        )
                    }
                }

            case .retry(let wait, _):
                slot.release()
                if wait > .zero {
                    do {
                        try await Task.sleep(for: wait)
                    } catch {
                        step = machine.slotWaitEnded(.cancelled, clockEnded: false, cancelled: true)
                        continue
                    }
                }
                // Waiting for a slot is the account's time (circuit open, limit lowered): only the job's own deadline
                // ends the wait.
                let slotWait = ContinuousClock.now
                let reacquired = await slot.reacquire(until: clock.deadline)
                if reacquired == .acquired { clock.pause(.now - slotWait) }
                step = machine.slotWaitEnded(reacquired, clockEnded: clock.hasEnded(), cancelled: Task.isCancelled)

            case .waitForDeadline:
                slot.release()
                try? await Task.sleep(until: clock.end, clock: .continuous)
                step = machine.deadlineWaitEnded(cancelled: Task.isCancelled)

            case .finish(let ending):
                slot.release()
                let completion: CompletionRecord
                switch ending {
                case .answered(let attempts):
                    guard let answer else { preconditionFailure("answered without an answer") }
                    logAnswer(answer, job: job, attempts: attempts, logger: logger)
                    guard await deliverPartials(of: answer) else { return }
                    completion = answered(admitted, answer, attempts: attempts, attemptID: attemptID)
                case .failed(let reason, let attempts, _)
                where reason.code == .invalidOutput || reason.code == .truncated:
                    // The answer is kept beside the failure (it was paid for, and shows what went wrong).
                    guard let answer else { preconditionFailure("an unusable answer without an answer") }
                    logger.info(
                        "Job failed: the answer breaks its output format",
                        metadata: ["error": "\(reason.code)"]
                    )
                    guard await deliverPartials(of: answer) else { return }
                    completion = answered(admitted, answer, attempts: attempts, attemptID: attemptID, failure: reason)
                case .failed(let reason, let attempts, let exhausted):
                    if exhausted {
                        logger.warning("Job failed: attempts exhausted", metadata: ["error": "\(reason.code)"])
                    } else {
                        logger.info("Job failed permanently", metadata: ["error": "\(reason.code)"])
                    }
                    completion = failed(admitted, reason, attempts: attempts)
                case .deadlineExceeded(let attempts, let cause):
                    logger.info("Job deadline passed", metadata: ["attempts": "\(attempts)"])
                    completion = deadlineExceeded(admitted, attempts: attempts, cause: cause)
                }
                await finish(admitted, completion)
                return

            case .stop:
                return
            }
        }
    }

    /// Delivers a streamed answer's partials before its completion; `false` when cancelled (revocation, forced
    /// shutdown) or the producer closed: then nothing more is published.
    private func deliverPartials(of answer: AttemptAnswer) async -> Bool {
        guard let partials = answer.partials else { return true }
        publisher.gate.beginPublishing()
        let delivered = await partials.deliverAll()
        publisher.gate.endPublishing()
        return delivered && !Task.isCancelled
    }

    /// How an answer measures up to the job's output format; a function call or a refusal is not judged.
    private static func verdict(of answer: AttemptAnswer, format: ResponseFormat?) -> ResponseFormat.Verdict {
        guard let format, answer.functionCall == nil, answer.finishReason != "blacklist" else {
            return .valid(parsed: nil)
        }
        return format.verdict(on: answer.content, finishReason: answer.finishReason)
    }

    private static func adding(_ usage: ChatUsage?, to total: ChatUsage?) -> ChatUsage? {
        guard let usage else { return total }
        guard let total else { return usage }
        return ChatUsage(
            promptTokens: total.promptTokens + usage.promptTokens,
            completionTokens: total.completionTokens + usage.completionTokens,
            totalTokens: total.totalTokens + usage.totalTokens,
            precachedPromptTokens: total.precachedPromptTokens + usage.precachedPromptTokens
        )
    }

    private func logAnswer(_ answer: AttemptAnswer, job: Job, attempts: Int, logger: JobLogger) {
        guard configuration.logContent else { return }
        logger.debug(
            "Job answered",
            metadata: [
                "prompt": "\(job.messages.map { "\($0.role.rawValue): \($0.content ?? "")" }.joined(separator: "\n"))",
                "answer": "\(answer.content)", "attempt": "\(attempts)",
            ]
        )
    }

    /// Answers a job that never started because its own deadline passed while it waited in the buffer (taken with
    /// ``Dispatcher/takeExpired(now:)``): `deadline_exceeded`, no GigaChat call.
    func expire(_ admitted: AdmittedJob) async {
        defer { dispatcher.finishKey(admitted.schedulingKey) }
        await finish(admitted, deadlineExceeded(admitted, attempts: 0))
    }

    /// What a failed attempt means for the account's flow control.
    private static func outcome(_ decision: FailurePolicy.Decision, _ failure: GigaChatError) -> FlowController.Outcome
    {
        switch decision {
        case .fail:
            return .answered(totalTokens: nil)
        case .retry(let retryAfter):
            return failure.code == .rateLimited ? .rateLimited(retryAfter: retryAfter) : .serverFailure
        case .accountFault:
            switch failure.code {
            case .paymentRequired: return .accountFault(.paymentRequired)
            case .forbidden: return .accountFault(.forbidden)
            default: return .accountFault(.unauthorized)
            }
        }
    }

    /// A prompt's tokens before the call, for `gigachat.tokens_per_minute`: a quarter of its UTF-8 bytes (about
    /// what GigaChat's tokenizer gives for Russian and English text); corrected with the answer's usage after.
    static func estimatedPromptTokens(_ job: Job) -> Int {
        let bytes =
            job.messages.reduce(0) { $0 + ($1.content?.utf8.count ?? 0) } + job.input.reduce(0) { $0 + $1.utf8.count }
        return max(1, bytes / 4)
    }

    // MARK: - Attempts

    /// The headers of a job's calls, but for each attempt's own `X-Request-ID`.
    private func requestHeaders(_ admitted: AdmittedJob) -> GigaChatRequestHeaders {
        var headers = GigaChatRequestHeaders()
        headers.sessionID = PromptSession.id(for: admitted.job, mode: configuration.sessionMode)
        if let traceparent = admitted.headers.last(where: { $0.key == "traceparent" })?.value {
            headers.additional["traceparent"] = String(decoding: traceparent, as: UTF8.self)
        }
        return headers
    }

    private func plainAttempt(_ request: ChatRequest, headers: GigaChatRequestHeaders) async -> AttemptResult {
        let start = ContinuousClock.now
        do {
            let response = try await client.completeChat(request, headers: headers)
            return .answered(
                AttemptAnswer(
                    content: response.content,
                    finishReason: response.finishReason?.rawValue,
                    functionCall: response.functionCall,
                    usage: response.usage,
                    model: response.model,
                    reasoning: response.choices.first?.message.reasoningContent,
                    files: response.choices.first?.message.attachments,
                    timeToFirstToken: .now - start
                )
            )
        } catch {
            return classify(error)
        }
    }

    private func embeddingsAttempt(_ admitted: AdmittedJob, headers: GigaChatRequestHeaders) async -> AttemptResult {
        let start = ContinuousClock.now
        let job = admitted.job
        do {
            let response = try await client.embed(
                job.input,
                model: job.model ?? configuration.embeddingsModel,
                headers: headers
            )
            let vectors = response.data.sorted { $0.index < $1.index }
            // One vector per text, each index once, all of one size, every number finite: else the answer could put
            // a vector beside the wrong text.
            let dimension = vectors.first?.embedding.count ?? 0
            guard vectors.map(\.index) == Array(0..<job.input.count), dimension > 0,
                vectors.allSatisfy({ $0.embedding.count == dimension && $0.embedding.allSatisfy(\.isFinite) })
            else {
                return .failed(
                    GigaChatError(
                        code: .decoding,
                        message:
                            "GigaChat answered \(vectors.count) vectors (indexes and sizes not one each of \(job.input.count) texts)"
                    )
                )
            }
            let prompt = vectors.reduce(0) { $0 + ($1.usage?.promptTokens ?? 0) }
            return .answered(
                AttemptAnswer(
                    content: "",
                    usage: ChatUsage(promptTokens: prompt, completionTokens: 0, totalTokens: prompt),
                    model: response.model,
                    embeddings: vectors.map(\.embedding),
                    timeToFirstToken: .now - start
                )
            )
        } catch {
            return classify(error)
        }
    }

    private func streamAttempt(
        _ request: ChatRequest,
        _ admitted: AdmittedJob,
        headers: GigaChatRequestHeaders,
        attemptID: String,
        attempt: Int
    ) async -> AttemptResult {
        let start = ContinuousClock.now
        let partials = PartialStream(
            publisher: publisher,
            topic: configuration.topics.partials,
            jobID: admitted.job.id,
            attemptID: attemptID,
            attempt: attempt,
            headers: admitted.headers,
            coalescer: PartialCoalescer(
                interval: configuration.partialsInterval,
                maxBytes: configuration.partialsMaxBytes,
                start: start
            ),
            metrics: metrics
        )
        // The chunks are gathered where they arrive; this task wakes when the answer ended, not once per event.
        let answer = StreamedAnswer(partials: partials, start: start)
        do {
            // The flush timer ends with the call: what is still pending goes out with the final partial, once the
            // answer is judged.
            defer { partials.stop() }
            try await client.streamChat(request, headers: headers) {
                answer.add($0)
            }
        } catch {
            // Partials already published stay under this attempt's id; the next attempt starts a new id.
            return classify(error)
        }
        // A call that ends because its task was cancelled is not an answer: no final partial for it. The final
        // partial goes out once the answer is judged (``run(_:)``): one a correction replaces gets none, like a cut
        // stream's.
        if Task.isCancelled { return .cancelled }
        return .answered(answer.collected)
    }

    private func classify(_ error: any Error) -> AttemptResult {
        if Task.isCancelled { return .cancelled }
        if let error = error as? GigaChatError {
            return error.code == .cancelled ? .cancelled : .failed(error)
        }
        if error is CancellationError { return .cancelled }
        return .failed(GigaChatError(code: .transport, message: "\(error)"))
    }

    // MARK: - Completions

    /// The job's own `deadline` on the continuous clock.
    private func jobDeadline(_ admitted: AdmittedJob) -> ContinuousClock.Instant? {
        guard let date = admitted.job.deadline else { return nil }
        let remaining = date.timeIntervalSinceNow
        return ContinuousClock.now + .milliseconds(Int64((remaining * 1000).rounded(.down)))
    }

    private func latency(_ admitted: AdmittedJob) -> Int {
        Int((ContinuousClock.now - admitted.receivedAt).milliseconds)
    }

    private func answered(
        _ admitted: AdmittedJob,
        _ answer: AttemptAnswer,
        attempts: Int,
        attemptID: String,
        failure: CompletionRecord.Failure? = nil
    ) -> CompletionRecord {
        metrics.timeToFirstToken.record(duration: answer.timeToFirstToken)
        if let usage = answer.usage {
            metrics.promptTokens.increment(by: usage.promptTokens)
            metrics.completionTokens.increment(by: usage.completionTokens)
            metrics.precachedTokens.increment(by: usage.precachedPromptTokens)
        }
        // GigaChat refuses some topics with finish_reason "blacklist": the answer is a refusal, not content.
        let refused = answer.finishReason == "blacklist"
        let error =
            failure
            ?? (refused
                ? CompletionRecord.Failure(code: .contentRefused, message: "GigaChat refused to answer this topic")
                : nil)
        return CompletionRecord(
            id: admitted.job.id,
            status: error == nil ? .ok : .failed,
            content: answer.embeddings == nil ? answer.content : nil,
            finishReason: answer.finishReason,
            functionCall: answer.functionCall,
            parsed: error == nil ? answer.parsed : nil,
            embeddings: answer.embeddings,
            reasoningContent: answer.reasoning.flatMap { $0.isEmpty ? nil : $0 },
            files: answer.files.flatMap { $0.isEmpty ? nil : $0 },
            usage: answer.usage,
            model: answer.model,
            attempts: attempts,
            attemptID: attemptID,
            latencyMilliseconds: latency(admitted),
            timeToFirstTokenMilliseconds: Int(answer.timeToFirstToken.milliseconds),
            metadata: admitted.job.metadata,
            error: error
        )
    }

    private func failed(_ admitted: AdmittedJob, _ reason: CompletionRecord.Failure, attempts: Int) -> CompletionRecord
    {
        CompletionRecord(
            id: admitted.job.id,
            status: .failed,
            attempts: attempts,
            latencyMilliseconds: latency(admitted),
            metadata: admitted.job.metadata,
            error: reason
        )
    }

    private func failed(_ admitted: AdmittedJob, code: CompletionRecord.Failure.Code, message: String, attempts: Int)
        -> CompletionRecord
    {
        failed(admitted, CompletionRecord.Failure(code: code, message: message), attempts: attempts)
    }

    private func deadlineExceeded(
        _ admitted: AdmittedJob,
        attempts: Int,
        cause: GigaChatError? = nil
    ) -> CompletionRecord {
        var message =
            admitted.job.deadline != nil && attempts == 0
            ? "the job's deadline had passed before it started; GigaChat was not called"
            : "the job's deadline (or jobs.timeout) passed"
        if let cause { message += "; last error: \(FailurePolicy.code(for: cause.code))" }
        return failed(
            admitted,
            CompletionRecord.Failure(code: .deadlineExceeded, message: message, httpStatus: cause?.httpStatus),
            attempts: attempts
        )
    }

    /// Publishes the completion (or its replacement) until it is acknowledged, then counts the offset done.
    private func finish(_ admitted: AdmittedJob, _ completion: CompletionRecord) async {
        let destination = ReplyDestination(admitted: admitted, completionsTopic: configuration.topics.completions)
        let record = KafkaProducerRecord(
            topic: destination.topic,
            partition: destination.partition,
            key: Array(admitted.job.id.utf8),
            value: completion.jsonBytes,
            headers: admitted.headers
        )
        publisher.gate.beginPublishing()
        let outcome = await publisher.publish(.completion(completion, record: record), completing: admitted.ticket)
        publisher.gate.endPublishing()
        guard let published = outcome,
            case .completion(let sent) = published.kind
        else { return }
        metrics.jobDuration.record(duration: ContinuousClock.now - admitted.receivedAt)
        switch sent.status {
        case .ok: metrics.jobsOK.increment()
        case .failed: metrics.jobsFailed.increment()
        }
    }
}
