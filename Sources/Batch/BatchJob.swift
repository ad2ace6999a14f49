import Foundation
import GigaChat

/// A job ready to submit: its id and the JSON value the worker reads (see docs/DESIGN.md for the format).
public struct BatchJob: Sendable, Hashable {
    /// The job's id (also the record key).
    public var id: String
    /// The job as a JSON object: `id`, `messages` and the optional fields.
    public var value: JSONValue

    /// Creates a job from its parts; `nil` fields are left out.
    public init(
        id: String,
        messages: [(role: String, content: String)],
        model: String? = nil,
        stream: Bool? = nil,
        options: [String: JSONValue] = [:],
        metadata: JSONValue? = nil
    ) {
        var object: [String: JSONValue] = [
            "id": .string(id),
            "messages": .array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }),
        ]
        if let model { object["model"] = .string(model) }
        if let stream { object["stream"] = .bool(stream) }
        if !options.isEmpty { object["options"] = .object(options) }
        if let metadata { object["metadata"] = metadata }
        self.init(id: id, value: .object(object))
    }

    /// Wraps a job object as it is.
    public init(id: String, value: JSONValue) {
        self.id = id
        self.value = value
    }

    /// The record value: compact JSON, keys sorted (so equal jobs are equal bytes).
    public var bytes: [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data())
    }
}
