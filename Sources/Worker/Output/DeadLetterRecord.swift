import Foundation
import Kafka
import WireFormat

/// The dead-letter copy of a record that could not become a job: its key, value and headers untouched, plus the
/// headers Spring Kafka's `DeadLetterPublishingRecoverer` writes (so Spring tooling reads it) and ours.
///
/// Spring's encodings are kept: partition as a 4-byte and offset and timestamp as 8-byte big-endian integers,
/// the rest UTF-8.
public enum DeadLetterRecord {
    /// `gigachat_worker-error-code`: the ``JobRejection/Code`` (`not_json`, `unknown_field`, ...).
    public static let errorCodeHeader = "gigachat_worker-error-code"
    /// `gigachat_worker-worker-id`: the worker that rejected it.
    public static let workerIDHeader = "gigachat_worker-worker-id"
    /// Set when the value had to be left out because the DLQ topic refused its size.
    public static let valueOmittedHeader = "gigachat_worker-value-omitted"

    /// Builds the dead letter of `message`.
    /// - Parameters:
    ///   - message: The rejected record.
    ///   - rejection: Why.
    ///   - topic: The dead-letter topic.
    ///   - group: The consumer group (`kafka_dlt-original-consumer-group`).
    ///   - workerID: This worker's id.
    public static func make(
        for message: KafkaConsumerMessage,
        rejection: JobRejection,
        topic: String,
        group: String,
        workerID: String
    ) -> KafkaProducerRecord {
        var headers = message.headers
        headers.append(KafkaHeader(key: "kafka_dlt-original-topic", value: Array(message.topic.utf8)))
        headers.append(KafkaHeader(key: "kafka_dlt-original-partition", value: bigEndian(message.partition)))
        headers.append(KafkaHeader(key: "kafka_dlt-original-offset", value: bigEndian(message.offset)))
        if let timestamp = message.timestamp {
            let milliseconds = Int64((timestamp.timeIntervalSince1970 * 1000).rounded())
            headers.append(KafkaHeader(key: "kafka_dlt-original-timestamp", value: bigEndian(milliseconds)))
        }
        headers.append(KafkaHeader(key: "kafka_dlt-original-consumer-group", value: Array(group.utf8)))
        headers.append(KafkaHeader(key: "kafka_dlt-exception-fqcn", value: Array("gigachat_worker.JobRejection".utf8)))
        headers.append(KafkaHeader(key: "kafka_dlt-exception-message", value: Array(rejection.message.utf8)))
        headers.append(KafkaHeader(key: errorCodeHeader, value: Array(rejection.code.rawValue.utf8)))
        headers.append(KafkaHeader(key: workerIDHeader, value: Array(workerID.utf8)))
        return KafkaProducerRecord(topic: topic, key: message.key, value: message.value, headers: headers)
    }

    static func bigEndian<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.bigEndian) { Array($0) }
    }
}
