import Foundation
import GigaChatEmulator
import Kafka

/// A job as a test produces it, and the answer the emulator will give.
struct TestJob: Sendable {
    var id: String
    var prompt: String
    var stream: Bool = false
    var replyTo: String?
    var deadline: Date?
    var key: String?
    var headers: [KafkaHeader] = []
    var metadata: [String: String]?
    /// The partition to produce to; `nil`: by key.
    var partition: Int32?

    var value: [UInt8] {
        var object: [String: Any] = [
            "id": id,
            "messages": [["role": "user", "content": prompt]],
            "stream": stream,
        ]
        if let replyTo { object["reply_to"] = replyTo }
        if let deadline {
            let formatter = ISO8601DateFormatter()
            object["deadline"] = formatter.string(from: deadline)
        }
        if let metadata { object["metadata"] = metadata }
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    func record(topic: String) -> KafkaProducerRecord {
        KafkaProducerRecord(
            topic: topic,
            partition: partition,
            key: Array((key ?? id).utf8),
            value: value,
            headers: headers
        )
    }

    /// The content the emulator answers with.
    var expectedContent: String {
        GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat")
    }
}
