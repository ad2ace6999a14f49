import Kafka
import Logging

/// Publishes what input offsets wait for, and then marks the offset done: the one path of every completion and
/// dead letter.
///
/// Each call runs in its caller's task: the record is handed to the sink (waiting while its queue is full), the
/// delivery report awaited, and a refusal answered there, whether it came at once or in the report:
/// - too large, or a reply topic that does not exist: the ``Outcome``'s replacement goes out instead;
/// - an output topic that does not exist (completions, dead letters): ``OutputGate`` stops new jobs and says
///   why, and the record is tried again until the topic exists;
/// - anything else (timeouts after librdkafka's own retries, a broker away): tried again with a backoff.
/// Every wait ends when the task is cancelled (revocation, forced shutdown); then nothing is marked done and the
/// input is read again. A closed or failed producer ends it the same way.
final class OutcomePublisher: Sendable {
    let sink: any OutputSink
    let tracker: OffsetTracker
    let completionsTopic: String
    let gate: OutputGate
    let logger: Logger
    /// The first wait before a record is tried again; doubled per failure up to ``maximumBackoff``.
    let initialBackoff: Duration
    let maximumBackoff: Duration

    init(
        sink: any OutputSink,
        tracker: OffsetTracker,
        completionsTopic: String,
        gate: OutputGate,
        logger: Logger,
        initialBackoff: Duration = .milliseconds(500),
        maximumBackoff: Duration = .seconds(30)
    ) {
        self.sink = sink
        self.tracker = tracker
        self.completionsTopic = completionsTopic
        self.gate = gate
        self.logger = logger
        self.initialBackoff = initialBackoff
        self.maximumBackoff = maximumBackoff
    }

    /// Publishes the outcome (or its replacement) until the broker acknowledges it, then marks `ticket` done.
    /// - Returns: What was acknowledged, or `nil` when the task was cancelled or the producer closed (the offset
    ///   stays where it is).
    func publish(_ outcome: Outcome, completing ticket: OffsetTracker.Ticket) async -> Outcome? {
        var current = outcome
        var failures = 0
        var blocked: String?
        defer { if let blocked { gate.withdraw(blocked) } }
        while true {
            switch await deliverOnce(current.record) {
            case .success:
                gate.clear(current.record.topic)
                blocked = nil
                tracker.complete(ticket)
                return current
            case .failure(let error):
                if let replacement = current.replacement(after: error, completionsTopic: completionsTopic) {
                    logger.warning(
                        "Output refused by the broker; publishing a replacement",
                        metadata: ["topic": "\(current.record.topic)", "error": "\(error)"]
                    )
                    current = replacement
                    continue
                }
                guard await waitToRetry(current.record.topic, after: error, failures: &failures, blocked: &blocked)
                else { return nil }
            }
        }
    }

    /// Delivers a record that has no replacement (a partial) until the broker acknowledges it.
    /// - Returns: Whether it was acknowledged (`false`: cancelled, or the producer closed).
    /// A partial too large for its topic goes out without the input's copied headers; if even that is too large it
    /// is left out (logged): the completion carries the whole answer.
    func deliver(_ record: KafkaProducerRecord) async -> Bool {
        var current = record
        var failures = 0
        var blocked: String?
        defer { if let blocked { gate.withdraw(blocked) } }
        while true {
            switch await deliverOnce(current) {
            case .success:
                gate.clear(current.topic)
                blocked = nil
                return true
            case .failure(let error) where error.code == .messageTooLarge:
                guard let smaller = Outcome.partialWithoutInputHeaders(current) else {
                    logger.error(
                        "A partial is larger than its topic accepts; left out",
                        metadata: ["topic": "\(current.topic)"]
                    )
                    return true
                }
                current = smaller
            case .failure(let error):
                guard await waitToRetry(current.topic, after: error, failures: &failures, blocked: &blocked) else {
                    return false
                }
            }
        }
    }

    /// Hands a record over without waiting for the broker, waiting (cancellably) while the sink's queue is full.
    /// - Throws: The sink's refusal, or `.cancelled`; then `onDelivery` is not called.
    func enqueue(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void
    ) async throws(KafkaError) {
        while true {
            do {
                try sink.enqueue(record, onDelivery: onDelivery)
                return
            } catch  where error.code == .queueFull {
                do {
                    try await Task.sleep(for: .milliseconds(1))
                } catch {
                    throw KafkaError(code: .cancelled, message: "Cancelled while the producer's queue was full")
                }
            }
        }
    }

    /// Hands a record over at once, never waiting (for callers that must not: an event-loop thread).
    /// - Throws: The sink's refusal, `.queueFull` included; then `onDelivery` is not called.
    func enqueueNow(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void
    ) throws(KafkaError) {
        try sink.enqueue(record, onDelivery: onDelivery)
    }

    /// One hand-over and its delivery report (or the refusal at hand-over).
    private func deliverOnce(_ record: KafkaProducerRecord) async -> Result<KafkaRecordMetadata, KafkaError> {
        // A cancelled task hands nothing over: the record would likely be published with its offset not done.
        if Task.isCancelled { return .failure(KafkaError(code: .cancelled, message: "Cancelled before the hand-over")) }
        let wait = DeliveryWait()
        do {
            try await enqueue(record) { wait.resolve($0) }
        } catch {
            return .failure(error)
        }
        return await wait.value()
    }

    /// After a failed delivery: logs, reports a missing topic, and waits the backoff.
    /// - Returns: `false` when the record is to be given up: the task was cancelled, or the producer closed or
    ///   failed for good.
    private func waitToRetry(
        _ topic: String,
        after error: KafkaError,
        failures: inout Int,
        blocked: inout String?
    ) async -> Bool {
        if error.code == .cancelled || Task.isCancelled { return false }
        if error.code == .closed || error.isFatal {
            logger.warning(
                "Output not delivered; its input will be read again",
                metadata: ["topic": "\(topic)", "error": "\(error)"]
            )
            return false
        }
        // A topic that refuses even the smallest replacement is as good as missing: nothing of it can be published.
        if error.code == .unknownTopic || error.code == .messageTooLarge {
            gate.block(topic, because: error)
            blocked = topic
        }
        failures += 1
        let delay = min(maximumBackoff, initialBackoff * (1 << min(failures - 1, 16)))
        logger.warning(
            "Output not delivered; publishing it again",
            metadata: [
                "topic": "\(topic)", "error": "\(error)", "retry_in_ms": "\(delay.milliseconds)",
                "failures": "\(failures)",
            ]
        )
        do {
            try await Task.sleep(for: delay)
        } catch {
            return false
        }
        return true
    }
}
