import CRdKafka
import Dispatch
import Logging
import Synchronization

/// Produces records to Kafka through librdkafka.
///
/// Delivery reports are served by a dedicated poll thread (`rd_kafka_poll`), never by the cooperative pool:
/// ``send(_:)`` resumes when the broker acknowledged the record, ``enqueue(_:onDelivery:)`` calls back on that
/// thread. Idempotence is on by default, so retries neither duplicate nor reorder records.
///
/// - Important: Call ``close(timeout:)`` when done: it flushes, fails what is still queued after the timeout
///   and destroys the client. Dropping the producer without closing purges queued records at once (their
///   reports fail with code `.closed`).
public final class KafkaProducer: Sendable {
    let shared: RDKafkaProducerShared
    private let logger: Logger
    /// Runs `rd_kafka_flush` for ``flush(timeout:)``.
    private let blockingQueue: DispatchQueue

    /// Creates a producer and starts its poll thread.
    /// - Parameters:
    ///   - configuration: The settings; unknown or invalid properties are rejected here.
    ///   - logger: Receives librdkafka's logs (secret values scrubbed).
    ///   - onFatalError: Called once, on a librdkafka thread, when the producer hits a fatal error (for example an
    ///     idempotence sequence it cannot recover): from then on every record fails with that error, so an
    ///     application that must not lose records should stop. Also readable as ``fatalError``.
    /// - Throws: ``KafkaError`` `.config` naming a rejected property, `.libraryVersion` or `.clientCreation`.
    public init(
        configuration: KafkaProducerConfiguration,
        logger: Logger,
        onFatalError: (@Sendable (KafkaError) -> Void)? = nil
    ) throws(KafkaError) {
        let properties = configuration.rdKafkaProperties
        let fatal = RDKafkaFatalErrorLatch(handler: onFatalError)
        let context = RDKafkaClientContext(
            logger: logger,
            secrets: RDKafkaConfig.secretValues(properties),
            onError: { error in
                if error.isFatal { fatal.record(error) }
            }
        )
        let client = try RDKafkaClient(type: RD_KAFKA_PRODUCER, properties: properties, context: context) { conf in
            rd_kafka_conf_set_dr_msg_cb(conf, RDKafkaDeliveryReport.callback)
        }
        self.logger = logger
        self.shared = RDKafkaProducerShared(client: client, fatal: fatal)
        self.blockingQueue = DispatchQueue(label: "kafka.producer.flush")
        let reference = Unmanaged.passRetained(client)
        let shared = self.shared
        DedicatedThread.start(name: "kafka-producer-poll") {
            RDKafkaProducerShared.pollLoop(client: reference, shared: shared)
        }
        logger.debug("Kafka producer started", metadata: ["client": .string(client.name)])
    }

    deinit {
        shared.requestClose(timeout: .zero, waiter: nil)
    }

    /// Produces a record and waits until the broker acknowledged it.
    ///
    /// When librdkafka's local queue is full the call waits (polling every millisecond) for room.
    /// - Parameter record: The record; key, value and headers are copied once into librdkafka.
    /// - Returns: The partition and offset the broker stored the record at.
    /// - Throws: ``KafkaError`` with the delivery error (for example `.messageTooLarge`, `.timedOut` after
    ///   `message.timeout.ms`, `.unknownTopic`), `.closed` after ``close(timeout:)``, or `.cancelled` when the
    ///   task was cancelled before the record was handed over.
    /// - Important: Once handed to librdkafka the record may reach the broker whatever happens to the task, so
    ///   cancellation does not end the wait: the delivery report is the truth, bounded by `message.timeout.ms`.
    public func send(_ record: KafkaProducerRecord) async throws(KafkaError) -> KafkaRecordMetadata {
        while true {
            if Task.isCancelled {
                throw KafkaError(code: .cancelled, message: "Task cancelled before the record was produced")
            }
            let outcome: RDKafkaDeliveryReport.Completion? = await withUnsafeContinuation {
                (continuation: UnsafeContinuation<RDKafkaDeliveryReport.Completion?, Never>) in
                let report = RDKafkaDeliveryReport(topic: record.topic, receiver: .continuation(continuation))
                do throws(KafkaError) {
                    try shared.produce(record, report: report)
                } catch  where error.code == .queueFull {
                    continuation.resume(returning: nil)
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            if let outcome { return try outcome.get() }
            // The local queue is full: give the poll thread and the brokers a moment.
            try? await Task.sleep(for: .milliseconds(1))
        }
    }

    /// Hands a record to librdkafka without waiting for the broker.
    ///
    /// - Parameters:
    ///   - record: The record; key, value and headers are copied once into librdkafka.
    ///   - onDelivery: Called exactly once with the broker's answer or the delivery error, on a thread of the
    ///     producer's own (its poll thread, or the one running ``flush(timeout:)``), never on the cooperative
    ///     pool; keep it short (it holds up other reports).
    /// - Throws: ``KafkaError`` `.queueFull` (retriable) when librdkafka's local queue is full — wait a little
    ///   (or ``flush(timeout:)``) and try again; `.closed` after ``close(timeout:)``; other codes when librdkafka
    ///   refuses the record (`.messageTooLarge`, `.unknownTopic` for a partition that does not exist). When it
    ///   throws, `onDelivery` is not called.
    public func enqueue(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void
    ) throws(KafkaError) {
        let report = RDKafkaDeliveryReport(topic: record.topic, receiver: .callback(onDelivery))
        try shared.produce(record, report: report)
    }

    /// The fatal error the producer hit, if any: once set, every record fails with it and the producer must be
    /// closed (see `onFatalError` in ``init(configuration:logger:onFatalError:)``).
    public var fatalError: KafkaError? { shared.fatal.error }

    /// Waits until every record handed over so far was acknowledged or failed (`rd_kafka_flush`).
    /// - Parameter timeout: The longest wait.
    /// - Throws: ``KafkaError`` `.timedOut` when records remain after `timeout`, `.closed` after close.
    public func flush(timeout: Duration) async throws(KafkaError) {
        guard let client = shared.client else { throw KafkaError.closed("The producer") }
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        )
        let err = await DedicatedThread.run(on: blockingQueue) { rd_kafka_flush(client.handle, milliseconds) }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            let remaining = rd_kafka_outq_len(client.handle)
            throw KafkaError.rdKafka(
                err,
                fallback: .timedOut,
                context: "Flush left \(remaining) records or requests outstanding"
            )
        }
    }

    /// Flushes for up to `timeout`, fails what is still queued (`.closed`), then destroys the client.
    ///
    /// Safe to call more than once and concurrently; every call returns once the client is gone. Later calls to
    /// ``send(_:)`` and ``enqueue(_:onDelivery:)`` throw `.closed`.
    /// - Parameter timeout: The longest time to wait for outstanding records.
    public func close(timeout: Duration) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            shared.requestClose(timeout: timeout, waiter: continuation)
        }
        logger.debug("Kafka producer closed")
    }
}
