import Foundation
import GigaChatEmulator
import Kafka

/// A job as a test produces it, and the answer the emulator will give.
struct TestJob: Sendable {
    var id: String
    var prompt: String
    /// A system message before the prompt (the emulator serves it from its prefix cache).
    var system: String?
    var stream: Bool = false
    /// The job's `api` field (`v1`, `v2`); `nil` leaves it to `gigachat.api`.
    var api: String?
    /// The job's `options` (JSON-serialisable values).
    var options: [String: any Sendable]?
    /// Set: an embeddings job of these texts (`prompt`, `stream` and the chat fields are not sent).
    var embeddingsInput: [String]?
    var replyTo: String?
    var deadline: Date?
    var key: String?
    var headers: [KafkaHeader] = []
    var metadata: [String: String]?
    /// The partition to produce to; `nil`: by key.
    var partition: Int32?

    var value: [UInt8] {
        if let embeddingsInput {
            let object: [String: Any] = ["id": id, "kind": "embeddings", "input": embeddingsInput]
            return Array(try! JSONSerialization.data(withJSONObject: object))
        }
        var object: [String: Any] = [
            "id": id,
            "messages": (system.map { [["role": "system", "content": $0]] } ?? []) + [
                ["role": "user", "content": prompt]
            ],
            "stream": stream,
        ]
        if let api { object["api"] = api }
        if let options { object["options"] = options }
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

    /// The usage the emulator reports, as the completion carries it whichever API answered: (prompt, completion,
    /// total, and the prompt tokens the prefix cache serves when it hits: the system prompt's).
    var expectedUsage: (prompt: Int, completion: Int, total: Int, cacheable: Int) {
        let cacheable = system.map(GigaChatEmulator.tokenCount(of:)) ?? 0
        let prompt = cacheable + GigaChatEmulator.tokenCount(of: self.prompt)
        let completion = GigaChatEmulator.tokenCount(of: expectedContent)
        return (prompt, completion, prompt + completion, cacheable)
    }
}
