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
    /// The most texts one embeddings job may carry (`embeddings.max_inputs`): its vectors must fit one completion.
    public var maxEmbeddingsInputs: Int

    /// Creates a decoder.
    /// - Parameters:
    ///   - maxBytes: The largest value accepted, in bytes.
    ///   - maxEmbeddingsInputs: The most texts of an embeddings job.
    public init(maxBytes: Int, maxEmbeddingsInputs: Int = JobDecoder.defaultMaxEmbeddingsInputs) {
        self.maxBytes = maxBytes
        self.maxEmbeddingsInputs = maxEmbeddingsInputs
    }

    /// The top-level fields of a job.
    public static let fields = [
        "id", "kind", "model", "messages", "stream", "api", "session_id", "options", "reply_to", "deadline", "metadata",
        "input",
    ]
    /// ``fields`` as a set (made once: building it cost every job a dozen string hashes).
    static let knownFields = Set(fields)
    /// The fields of an embeddings job (`"kind": "embeddings"`).
    public static let embeddingsFields: Set<String> = [
        "id", "kind", "model", "input", "reply_to", "deadline", "metadata",
    ]
    /// The default of ``maxEmbeddingsInputs``: 32 vectors of 2560 numbers at float precision (about 11 bytes a
    /// number) are 0.9 MB, inside Kafka's default 1 MB message.
    public static let defaultMaxEmbeddingsInputs = 32
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
        let json: JSONValue
        do {
            json = try JSONValue(parsing: value)
        } catch {
            return .failure(JobRejection(.notJSON, "the value is not JSON (\(error.reason) at byte \(error.offset))"))
        }
        guard case .object(let members) = json else {
            return .failure(JobRejection(.notAnObject, "the value is JSON but not an object"))
        }
        do {
            return .success(try Self.job(from: members, maxEmbeddingsInputs: maxEmbeddingsInputs))
        } catch let rejection as JobRejection {
            return .failure(rejection)
        } catch {
            return .failure(JobRejection(.wrongType, "\(error)"))
        }
    }

    /// Validates the members of a job object and builds the job.
    static func job(
        from members: [String: JSONValue],
        maxEmbeddingsInputs: Int = JobDecoder.defaultMaxEmbeddingsInputs
    ) throws -> Job {
        // Sorted only when one is unknown: the first in order is the one the rejection names.
        if members.keys.contains(where: { !knownFields.contains($0) }),
            let unknown = members.keys.sorted().first(where: { !knownFields.contains($0) })
        {
            throw JobRejection(
                .unknownField,
                "unknown field \"\(unknown)\"; a job has \(fields.joined(separator: ", "))"
            )
        }
        guard let idValue = members["id"] else { throw JobRejection(.missingField, "id is missing") }
        guard case .string(let id) = idValue else { throw JobRejection(.wrongType, "id: expected a string") }
        guard !id.isEmpty else { throw JobRejection(.emptyField, "id is empty") }
        switch try optionalString(members, "kind") {
        case nil, "chat":
            if present(members, "input") != nil {
                throw JobRejection(.unknownField, "input belongs to embeddings jobs (\"kind\": \"embeddings\")")
            }
        case "embeddings":
            return try embeddingsJob(id: id, from: members, maxInputs: maxEmbeddingsInputs)
        case let other?:
            throw JobRejection(.wrongType, "kind \"\(other.prefix(20))\" is not chat or embeddings")
        }
        guard let messagesValue = members["messages"] else { throw JobRejection(.missingField, "messages is missing") }
        guard case .array(let items) = messagesValue else {
            throw JobRejection(.wrongType, "messages: expected an array")
        }
        guard !items.isEmpty else { throw JobRejection(.emptyField, "messages is empty") }
        var messages: [ChatMessage] = []
        messages.reserveCapacity(items.count)
        for (index, item) in items.enumerated() { messages.append(try message(item, at: index)) }

        let model = try optionalString(members, "model")
        var stream: Bool?
        if let value = present(members, "stream") {
            guard case .bool(let flag) = value else { throw JobRejection(.wrongType, "stream: expected true or false") }
            stream = flag
        }
        var api: GigaChatAPI?
        if let text = try optionalString(members, "api") {
            guard let named = GigaChatAPI(rawValue: text) else {
                throw JobRejection(.invalidAPI, "api \"\(text.prefix(20))\" is not v1 or v2")
            }
            api = named
        }
        let sessionID = try optionalString(members, "session_id")
        if let sessionID,
            sessionID.isEmpty || sessionID.utf8.count > 128
                || sessionID.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value > 0x7E })
        {
            throw JobRejection(
                .wrongType,
                "session_id: expected 1-128 printable ASCII characters (an HTTP header value)"
            )
        }
        var options: [String: JSONValue] = [:]
        if let value = present(members, "options") {
            guard case .object(let object) = value else {
                throw JobRejection(.wrongType, "options: expected an object")
            }
            options = object
        }
        if !options.isEmpty {
            try checkOptions(options)
        }
        let replyTo = try Self.replyTo(members)
        let deadline = try Self.deadline(members)
        return Job(
            id: id,
            model: model,
            messages: messages,
            stream: stream,
            api: api,
            sessionID: sessionID,
            options: options,
            replyTo: replyTo,
            deadline: deadline,
            metadata: present(members, "metadata")
        )
    }

    /// The job's `options` (not empty): no field of the job itself, typed chat parameters of the right types, and
    /// a response format each API can use.
    private static func checkOptions(_ options: [String: JSONValue]) throws {
        for reserved in ["messages", "stream", "model", "api"] where options[reserved] != nil {
            throw JobRejection(.unknownField, "options.\(reserved) is not allowed; it is a field of the job itself")
        }
        do {
            // The typed chat parameters are checked here, so a wrong type fails the record, not a GigaChat call.
            _ = try ChatRequest(messages: [], options: options)
        } catch let error as GigaChatError {
            throw JobRejection(
                .wrongType,
                error.message.replacingOccurrences(of: "invalid chat options: ", with: "options.")
            )
        }
        // Whichever API runs the job, the format it will be held to must be usable. v2 reads its own
        // `model_options.response_format` first; without one it reads the top-level format, already checked for v1.
        let ownV2Format = options["model_options"]?.objectValue?["response_format"].map { $0 != .null } ?? false
        for api in GigaChatAPI.allCases where api == .v1 || ownV2Format {
            do {
                _ = try ResponseFormat.requested(in: options, api: api)
            } catch {
                let place =
                    api == .v2 && options["model_options"]?.objectValue?["response_format"] != nil
                    ? "options.model_options." : "options."
                throw JobRejection(.invalidResponseFormat, place + error.message)
            }
        }
    }

    /// An embeddings job: `input` (1 to `maxInputs` strings) and the fields that apply to it.
    static func embeddingsJob(id: String, from members: [String: JSONValue], maxInputs: Int) throws -> Job {
        if let other = members.keys.sorted().first(where: { !embeddingsFields.contains($0) && members[$0] != .null }) {
            throw JobRejection(
                .unknownField,
                "\(other) does not apply to embeddings jobs; they have \(embeddingsFields.sorted().joined(separator: ", "))"
            )
        }
        guard let value = members["input"] else { throw JobRejection(.missingField, "input is missing") }
        guard case .array(let items) = value else {
            throw JobRejection(.wrongType, "input: expected an array of strings")
        }
        guard !items.isEmpty else { throw JobRejection(.emptyField, "input is empty") }
        guard items.count <= maxInputs else {
            throw JobRejection(
                .tooLarge,
                "input has \(items.count) texts; an embeddings job takes at most \(maxInputs) (embeddings.max_inputs)"
            )
        }
        let input = try items.enumerated().map { index, item in
            guard case .string(let text) = item else {
                throw JobRejection(.wrongType, "input[\(index)]: expected a string")
            }
            return text
        }
        var job = Job(
            id: id,
            model: try optionalString(members, "model"),
            messages: [],
            metadata: present(members, "metadata")
        )
        job.kind = .embeddings
        job.input = input
        job.replyTo = try Self.replyTo(members)
        job.deadline = try Self.deadline(members)
        return job
    }

    /// `reply_to`, if any: a legal topic name.
    private static func replyTo(_ members: [String: JSONValue]) throws -> String? {
        let replyTo = try optionalString(members, "reply_to")
        if let replyTo, !isLegalTopicName(replyTo) {
            throw JobRejection(.invalidReplyTo, "reply_to is not a legal topic name (1-249 of a-z A-Z 0-9 . _ -)")
        }
        return replyTo
    }

    /// `deadline`, if any: an RFC 3339 date-time.
    private static func deadline(_ members: [String: JSONValue]) throws -> Date? {
        guard let text = try optionalString(members, "deadline") else { return nil }
        guard let date = RFC3339.date(from: text) else {
            throw JobRejection(.invalidDeadline, "deadline is not an RFC 3339 date-time (2026-11-24T20:00:00Z)")
        }
        return date
    }

    /// A member that is there and not `null`.
    private static func present(_ members: [String: JSONValue], _ key: String) -> JSONValue? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    /// - Parameter path: Where the member is, for the rejection (made only then); default: `key`.
    private static func optionalString(
        _ members: [String: JSONValue],
        _ key: String,
        path: @autoclosure () -> String? = nil
    ) throws -> String? {
        guard let value = present(members, key) else { return nil }
        guard case .string(let text) = value else {
            throw JobRejection(.wrongType, "\(path() ?? key): expected a string")
        }
        return text
    }

    /// One message of the job.
    private static func message(_ value: JSONValue, at index: Int) throws -> ChatMessage {
        // Where the message is, for a rejection: made only then (formatting it for every message was not free).
        var path: String { "messages[\(index)]" }
        guard case .object(let members) = value else { throw JobRejection(.wrongType, "\(path): expected an object") }
        guard let roleValue = members["role"] else { throw JobRejection(.missingField, "\(path).role is missing") }
        guard case .string(let role) = roleValue else {
            throw JobRejection(.wrongType, "\(path).role: expected a string")
        }
        guard roles.contains(role) else {
            throw JobRejection(
                .invalidRole,
                "\(path).role \"\(role.prefix(40))\" is not one of \(roles.sorted().joined(separator: ", "))"
            )
        }
        let content = try optionalString(members, "content", path: "\(path).content")
        if (role == "user" || role == "system") && content == nil {
            throw JobRejection(.missingField, "\(path).content is missing")
        }
        var functionCall: ChatFunctionCall?
        if let value = present(members, "function_call") {
            guard case .object(let call) = value, case .string(let name)? = call["name"] else {
                throw JobRejection(.wrongType, "\(path).function_call: expected an object with a name")
            }
            functionCall = ChatFunctionCall(name: name, arguments: call["arguments"])
        }
        var attachments: [String]?
        if let value = present(members, "attachments") {
            guard case .array(let items) = value else {
                throw JobRejection(.wrongType, "\(path).attachments: expected an array of strings")
            }
            attachments = try items.map { item in
                guard case .string(let text) = item else {
                    throw JobRejection(.wrongType, "\(path).attachments: expected an array of strings")
                }
                return text
            }
        }
        return ChatMessage(
            role: ChatRole(rawValue: role),
            content: content,
            name: try optionalString(members, "name", path: "\(path).name"),
            attachments: attachments,
            functionCall: functionCall,
            functionsStateID: try optionalString(members, "functions_state_id", path: "\(path).functions_state_id")
        )
    }

    /// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and not `.` or `..`.
    public static func isLegalTopicName(_ name: String) -> Bool {
        guard (1...249).contains(name.utf8.count), name != ".", name != ".." else { return false }
        return name.utf8.allSatisfy { byte in
            (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }
}
