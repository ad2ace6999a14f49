import CRdKafka

/// The per-record opaque (`RD_KAFKA_V_OPAQUE`): where the delivery report of one record goes.
///
/// Ownership: retained once when the record is handed to librdkafka (`Unmanaged.passRetained`) and released
/// exactly once: by the delivery report callback, or at once if librdkafka refused the record. librdkafka
/// reports every accepted record exactly once (delivered, failed, or purged at close), so none leaks.
final class RDKafkaDeliveryReport {
    typealias Completion = Result<KafkaRecordMetadata, KafkaError>

    enum Receiver {
        /// An awaiting `send`. Unsafe continuation: the callback resumes it exactly once, and the checked
        /// variant's extra allocation per record shows in the benchmark. `nil` is never sent by the callback
        /// (the producer uses it to retry a record refused because the local queue was full).
        case continuation(UnsafeContinuation<Completion?, Never>)
        /// An `enqueue` callback.
        case callback(@Sendable (Completion) -> Void)
    }

    /// The record's topic, kept from the record so the report does not build a new string per record.
    let topic: String
    let receiver: Receiver

    init(topic: String, receiver: Receiver) {
        self.topic = topic
        self.receiver = receiver
    }

    func complete(_ result: Completion) {
        switch receiver {
        case .continuation(let continuation): continuation.resume(returning: result)
        case .callback(let callback): callback(result)
        }
    }

    /// `dr_msg_cb`: runs on the producer's poll thread inside `rd_kafka_poll`, many reports per call.
    static let callback:
        @convention(c) (OpaquePointer?, UnsafePointer<rd_kafka_message_t>?, UnsafeMutableRawPointer?) -> Void = {
            _,
            message,
            _ in
            guard let message, let opaque = message.pointee._private else { return }
            let report = Unmanaged<RDKafkaDeliveryReport>.fromOpaque(opaque).takeRetainedValue()
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                report.complete(
                    .success(
                        KafkaRecordMetadata(
                            topic: report.topic,
                            partition: message.pointee.partition,
                            offset: message.pointee.offset
                        )
                    )
                )
            } else {
                report.complete(
                    .failure(
                        KafkaError.rdKafka(
                            err,
                            fallback: .delivery,
                            context: "Record for topic \"\(report.topic)\" was not delivered"
                        )
                    )
                )
            }
        }
}
