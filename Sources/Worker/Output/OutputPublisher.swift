import Dispatch
import Foundation
import Kafka
import Logging

/// Publishes the worker's outputs and makes sure the ones that move offsets arrive.
///
/// Completions and dead letters are what an input offset waits for, so they are re-published until the broker
/// acknowledges them (after librdkafka's own retries for `message.timeout.ms` gave up), with a backoff, unless
/// the refusal is permanent: a record too large, or a reply topic that does not exist. Then a smaller
/// replacement goes out instead (see `JobRunner`) so the job still
/// ends with exactly one answer and its offset can move. Partials are published once; their attempt fails if one
/// is lost.
final class OutputPublisher: Sendable {
    let producer: KafkaProducer
    let completionsTopic: String
    let logger: Logger

    init(producer: KafkaProducer, completionsTopic: String, logger: Logger) {
        self.producer = producer
        self.completionsTopic = completionsTopic
        self.logger = logger
    }

    /// Hands a record to librdkafka, waiting (1 ms at a time) while its local queue is full.
    /// - Returns: `false` when the producer is closed or failed (the record was not taken).
    func enqueue(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void
    ) async -> Bool {
        while true {
            do {
                try producer.enqueue(record, onDelivery: onDelivery)
                return true
            } catch where error.code == .queueFull {
                try? await Task.sleep(for: .milliseconds(1))
            } catch {
                logger.error("Cannot hand a record to the producer", metadata: ["error": "\(error)"])
                return false
            }
        }
    }

    /// Publishes a record that an offset depends on, re-publishing it after delivery failures until it is
    /// acknowledged; `onOutcome` runs once, on the producer's thread or a dispatch thread.
    ///
    /// - Parameters:
    ///   - record: The record.
    ///   - replacement: For a permanent refusal (too large, unknown topic): the record to publish instead, or `nil`
    ///     to keep retrying the original.
    ///   - onOutcome: `true` once the record (or its replacement) is acknowledged; `false` when it was abandoned
    ///     because the producer closed or failed (its input offset then never moves past it).
    func publishReliably(
        _ record: KafkaProducerRecord,
        replacement: (@Sendable (KafkaError) -> KafkaProducerRecord?)? = nil,
        attempt: Int = 0,
        onOutcome: @escaping @Sendable (Bool) -> Void
    ) async {
        let taken = await enqueue(record) { [self] result in
            switch result {
            case .success:
                onOutcome(true)
            case .failure(let error) where error.code == .closed || error.isFatal:
                // Shutting down, or the producer is broken (the worker stops): the offset stays where it is.
                logger.warning(
                    "Output not delivered; its input will be read again",
                    metadata: ["topic": "\(record.topic)", "error": "\(error)"]
                )
                onOutcome(false)
            case .failure(let error):
                let next = (error.code == .messageTooLarge || error.code == .unknownTopic)
                    ? replacement?(error) : nil
                let delay = Duration.milliseconds(min(30_000, 500 << min(attempt, 6)))
                logger.warning(
                    "Output not delivered; publishing it again",
                    metadata: [
                        "topic": "\(record.topic)", "error": "\(error)",
                        "replaced": "\(next != nil)", "retry_in_ms": "\(next != nil ? 0 : delay.milliseconds)",
                    ]
                )
                let again = next ?? record
                let wait = next != nil ? Duration.zero : delay
                DispatchQueue.global().asyncAfter(deadline: .now() + wait.secondsDouble) {
                    Task {
                        await self.publishReliably(
                            again,
                            replacement: next != nil ? nil : replacement,
                            attempt: attempt + 1,
                            onOutcome: onOutcome
                        )
                    }
                }
            }
        }
        if !taken {
            logger.warning("Output not handed to the producer; its input will be read again")
            onOutcome(false)
        }
    }
}
