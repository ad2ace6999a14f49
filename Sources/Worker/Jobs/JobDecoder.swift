import Foundation
import GigaChat

/// Turns a record value into a ``Job`` or says exactly why it cannot be one (``JobRejection``).
///
/// Strict on purpose: an unknown top-level field, a wrong type or an unknown role is rejected rather than
/// silently dropped or guessed, because a job that runs differently from what its producer meant is worse than
/// one in the dead-letter topic with a reason. Message objects may carry fields this worker does not use.
public struct JobDecoder: Sendable {
    /// The largest value accepted, in bytes (`jobs.max_bytes`).
    public var maxBytes: Int

    /// Creates a decoder.
    /// - Parameter maxBytes: The largest value accepted, in bytes.
    public init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    /// The top-level fields of a job.
    public static let fields = [
        "id", "model", "messages", "stream", "options", "reply_to", "deadline", "metadata",
    ]
    /// The roles a job's messages may have.
    public static let roles: Set<String> = ["system", "user", "assistant", "function"]

    /// Decodes and validates one record value.
    /// - Parameter value: The record's value bytes (`nil` for a tombstone).
    /// - Returns: The job, or the rejection to dead-letter it with.
    public func decode(_ value: [UInt8]?) -> Result<Job, JobRejection> {
        guard let value, !value.isEmpty else {
            return .failure(JobRejection(.emptyValue, "the record has no value"))
        }
        guard value.count <= maxBytes else {
            return .failure(
                JobRejection(.tooLarge, "the value has \(value.count) bytes; jobs.max_bytes allows \(maxBytes)")
            )
        }
        guard String(validating: value, as: UTF8.self) != nil else {
            return .failure(JobRejection(.invalidUTF8, "the value is not valid UTF-8"))
        }
        do {
            return .success(try JSONDecoder().decode(WireJob.self, from: Data(value)).job)
        } catch let rejection as JobRejection {
            return .failure(rejection)
        } catch let error as DecodingError {
            return .failure(Self.rejection(for: error))
        } catch {
            return .failure(JobRejection(.notJSON, "the value is not JSON"))
        }
    }

    private static func rejection(for error: DecodingError) -> JobRejection {
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            return JobRejection(.notJSON, "the value is not JSON")
        case .typeMismatch(_, let context) where context.codingPath.isEmpty:
            return JobRejection(.notAnObject, "the value is JSON but not an object")
        case .typeMismatch(let type, let context), .valueNotFound(let type, let context):
            return JobRejection(.wrongType, "\(path(context.codingPath)): expected \(describe(type))")
        case .keyNotFound(let key, let context):
            return JobRejection(.missingField, "\(path(context.codingPath + [key])) is missing")
        case .dataCorrupted(let context):
            return JobRejection(.wrongType, "\(path(context.codingPath)): \(context.debugDescription)")
        @unknown default:
            return JobRejection(.notJSON, "the value cannot be decoded")
        }
    }

    static func path(_ codingPath: [any CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text.isEmpty ? "the value" : text
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "a string"
        case is Bool.Type: "true or false"
        case is [JSONValue].Type, is [WireMessage].Type: "an array"
        case is [String: JSONValue].Type: "an object"
        default: "another type (\(type))"
        }
    }

    /// RFC 3339 date-times, with and without fractional seconds.
    static func parseDeadline(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
    static func isLegalTopicName(_ name: String) -> Bool {
        guard (1...249).contains(name.utf8.count), name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }
}

/// Any string key: lets the job decoder see every top-level key (to reject unknown ones).
struct JobWireKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(_ string: String) { self.stringValue = string }
    init?(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// The wire form of a job, validated while decoding.
private struct WireJob: Decodable {
    let job: Job

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: JobWireKey.self)
        let known = Set(JobDecoder.fields)
        if let unknown = container.allKeys.map(\.stringValue).sorted().first(where: { !known.contains($0) }) {
            throw JobRejection(
                .unknownField,
                "unknown field \"\(unknown)\"; a job has \(JobDecoder.fields.joined(separator: ", "))"
            )
        }
        let id = try container.decode(String.self, forKey: JobWireKey("id"))
        guard !id.isEmpty else { throw JobRejection(.emptyField, "id is empty") }
        let wireMessages = try container.decode([WireMessage].self, forKey: JobWireKey("messages"))
        guard !wireMessages.isEmpty else { throw JobRejection(.emptyField, "messages is empty") }
        let model = try container.decodeIfPresent(String.self, forKey: JobWireKey("model"))
        let stream = try container.decodeIfPresent(Bool.self, forKey: JobWireKey("stream"))
        let options = try container.decodeIfPresent([String: JSONValue].self, forKey: JobWireKey("options")) ?? [:]
        for reserved in ["messages", "stream", "model"] where options[reserved] != nil {
            throw JobRejection(.unknownField, "options.\(reserved) is not allowed; it is a field of the job itself")
        }
        do {
            // The typed chat parameters are checked here, so a wrong type fails the record, not a GigaChat call.
            _ = try ChatRequest(messages: [], options: options)
        } catch let error as GigaChatError {
            throw JobRejection(.wrongType, error.message.replacingOccurrences(of: "invalid chat options: ", with: "options."))
        }
        let replyTo = try container.decodeIfPresent(String.self, forKey: JobWireKey("reply_to"))
        if let replyTo, !JobDecoder.isLegalTopicName(replyTo) {
            throw JobRejection(.invalidReplyTo, "reply_to is not a legal topic name (1-249 of a-z A-Z 0-9 . _ -)")
        }
        var deadline: Date?
        if let text = try container.decodeIfPresent(String.self, forKey: JobWireKey("deadline")) {
            guard let date = JobDecoder.parseDeadline(text) else {
                throw JobRejection(.invalidDeadline, "deadline is not an RFC 3339 date-time (2026-11-24T20:00:00Z)")
            }
            deadline = date
        }
        let metadata = try container.decodeIfPresent(JSONValue.self, forKey: JobWireKey("metadata"))
        var messages: [ChatMessage] = []
        messages.reserveCapacity(wireMessages.count)
        for (index, wire) in wireMessages.enumerated() {
            messages.append(try wire.message(at: index))
        }
        job = Job(
            id: id,
            model: model,
            messages: messages,
            stream: stream,
            options: options,
            replyTo: replyTo,
            deadline: deadline,
            metadata: metadata
        )
    }
}

/// One message of a job, as sent.
struct WireMessage: Decodable {
    var role: String
    var content: String?
    var name: String?
    var functionCall: ChatFunctionCall?
    var functionsStateID: String?
    var attachments: [String]?

    private enum CodingKeys: String, CodingKey {
        case role, content, name, attachments
        case functionCall = "function_call"
        case functionsStateID = "functions_state_id"
    }

    func message(at index: Int) throws -> ChatMessage {
        guard JobDecoder.roles.contains(role) else {
            throw JobRejection(
                .invalidRole,
                "messages[\(index)].role \"\(role.prefix(40))\" is not one of "
                    + JobDecoder.roles.sorted().joined(separator: ", ")
            )
        }
        if role == "user" || role == "system", content == nil {
            throw JobRejection(.missingField, "messages[\(index)].content is missing")
        }
        return ChatMessage(
            role: ChatRole(rawValue: role),
            content: content,
            name: name,
            attachments: attachments,
            functionCall: functionCall,
            functionsStateID: functionsStateID
        )
    }
}
