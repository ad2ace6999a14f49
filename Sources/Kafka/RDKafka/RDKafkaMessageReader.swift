import CRdKafka
import Foundation

/// Copies librdkafka messages into ``KafkaConsumerMessage`` values (the one copy of key, value and headers).
///
/// Lives on the poll thread only; it caches topic names so a message does not build a new string.
struct RDKafkaMessageReader {
    private var topicNames: [OpaquePointer: String] = [:]

    mutating func read(_ message: UnsafeMutablePointer<rd_kafka_message_t>) -> KafkaConsumerMessage {
        let m = message.pointee
        let topic = topicName(m.rkt)
        let value = m.payload.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: m.len)) }
        let key = m.key.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: m.key_len)) }
        var headers: [KafkaHeader] = []
        var list: OpaquePointer?
        if rd_kafka_message_headers(message, &list) == RD_KAFKA_RESP_ERR_NO_ERROR, let list {
            var index = 0
            var name: UnsafePointer<CChar>?
            var bytes: UnsafeRawPointer?
            var size = 0
            while rd_kafka_header_get_all(list, index, &name, &bytes, &size) == RD_KAFKA_RESP_ERR_NO_ERROR {
                headers.append(
                    KafkaHeader(
                        key: name.map { String(cString: $0) } ?? "",
                        value: bytes.map { [UInt8](UnsafeRawBufferPointer(start: $0, count: size)) }
                    )
                )
                index += 1
            }
        }
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        let milliseconds = rd_kafka_message_timestamp(message, &type)
        let timestamp =
            type == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE || milliseconds < 0
            ? nil : Date(timeIntervalSince1970: Double(milliseconds) / 1000)
        return KafkaConsumerMessage(
            topic: topic,
            partition: m.partition,
            offset: m.offset,
            key: key,
            value: value,
            headers: headers,
            timestamp: timestamp
        )
    }

    private mutating func topicName(_ topic: OpaquePointer?) -> String {
        guard let topic, let current = rd_kafka_topic_name(topic) else { return "" }
        // The cache is keyed by handle address; comparing the text guards against a destroyed topic's address
        // being reused for another topic.
        if let cached = topicNames[topic], cached.withCString({ strcmp($0, current) == 0 }) { return cached }
        let name = String(cString: current)
        topicNames[topic] = name
        return name
    }
}
