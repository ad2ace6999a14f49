import Foundation

// The fast path for the models read on every call: from a parsed `JSONValue`, with the same rules as their
// `Codable` conformances (missing optional members are `nil`; wrong types are errors).

extension ChatUsage {
    /// Reads `usage` member by member off the bytes (the parser is at its value), without a dictionary: a missing
    /// count is 0, a count of the wrong type throws, `null` is `nil`. A repeated member keeps its first value.
    init?(reading parser: inout JSONByteParser, at path: @autoclosure () -> String, depth: Int) throws {
        var counts: (prompt: Int??, completion: Int??, total: Int??, precached: Int??) = (nil, nil, nil, nil)
        let isObject = try parser.readObject(at: path(), depth: depth) { parser, name in
            switch name {
            case "prompt_tokens" where counts.prompt == nil:
                counts.prompt = .some(try parser.readInt(at: path() + ".prompt_tokens", depth: depth + 1))
            case "completion_tokens" where counts.completion == nil:
                counts.completion = .some(try parser.readInt(at: path() + ".completion_tokens", depth: depth + 1))
            case "total_tokens" where counts.total == nil:
                counts.total = .some(try parser.readInt(at: path() + ".total_tokens", depth: depth + 1))
            case "precached_prompt_tokens" where counts.precached == nil:
                counts.precached = .some(
                    try parser.readInt(at: path() + ".precached_prompt_tokens", depth: depth + 1)
                )
            default: try parser.skipValue(depth: depth + 1)
            }
        }
        guard isObject else { return nil }
        self.init(
            promptTokens: (counts.prompt ?? nil) ?? 0,
            completionTokens: (counts.completion ?? nil) ?? 0,
            totalTokens: (counts.total ?? nil) ?? 0,
            precachedPromptTokens: (counts.precached ?? nil) ?? 0
        )
    }
}

extension ChatFunctionCall {
    /// Writes the call as GigaChat sends it: `{"name","arguments"}`, `arguments` an object, left out when absent.
    public func write(into json: inout JSONWriter) {
        json.beginObject()
        json.key("name")
        json.string(name)
        if let arguments {
            json.key("arguments")
            json.value(arguments)
        }
        json.endObject()
    }

    init(json fields: JSONFields) throws(JSONFields.TypeError) {
        var arguments = fields.value("arguments")
        // Tolerate OpenAI-style string arguments by parsing them; keep the string when it is not JSON.
        if case .string(let text) = arguments, let parsed = try? JSONValue(parsing: Array(text.utf8)) {
            arguments = parsed
        }
        self.init(name: try fields.requiredString("name"), arguments: arguments)
    }
}

extension ChatChunk {
    init(json bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try ChatChunk(json: $0) }
    }

    /// Decodes one stream event's JSON, member by member off the bytes (an event comes every few milliseconds of
    /// every stream: no dictionary is built for it). A repeated member keeps its first value, as elsewhere.
    /// - Parameter requestID: The call's `X-Request-Id` (``xRequestID``).
    init(json bytes: UnsafeRawBufferPointer, requestID: String? = nil) throws {
        var top = try TopLevelMembers(reading: bytes) { parser, index in try Choice(reading: &parser, index: index) }
        // Member by member: `self.init(...)` and then setting `object` copied the whole chunk twice an event.
        // `take()` moves the array and strings out of `top` (reading them retained each, and `top` then released it).
        self.choices = top.choices.take() ?? []
        self.created = top.created
        self.model = top.model.take()
        self.object = top.object.take()
        self.usage = top.usage
        self.xRequestID = requestID
    }
}

/// The members an answer and a stream event share at their top — `choices` (each read by `choice`), `created`,
/// `model`, `object`, `usage` — read member by member off the bytes. A missing or `null` member is `nil` (`choices`
/// too: `null` reads as none, `[]`); a repeated member keeps its first value.
private struct TopLevelMembers<Choice> {
    var choices: [Choice]?
    var created: Int?
    var model: String?
    var object: String?
    var usage: ChatUsage?

    init(
        reading bytes: UnsafeRawBufferPointer,
        choice: (inout JSONByteParser, Int) throws -> Choice
    ) throws {
        let top = try JSONByteParser.read(bytes) { parser in try TopLevelMembers(parser: &parser, choice: choice) }
        guard let top else { throw JSONFields.TypeError(path: "", expected: "an object") }
        self = top
    }

    /// Reads the members (the parser is at the value); `nil` for `null`. A loop, not closures: what it reads moves
    /// into the result (a variable a closure captured was copied out, its strings retained once more).
    private init?(parser: inout JSONByteParser, choice: (inout JSONByteParser, Int) throws -> Choice) throws {
        guard var members = try parser.beginObject(at: "", depth: 0) else { return nil }
        // Seen members (a member's first value stands even when it is `null`).
        var seen: (choices: Bool, created: Bool, model: Bool, object: Bool, usage: Bool) = (
            false, false, false, false, false
        )
        var choices: [Choice]?
        var created: Int?
        var model: String?
        var object: String?
        var usage: ChatUsage?
        while let name = try parser.nextMember(&members) {
            switch name {
            case "choices" where !seen.choices:
                seen.choices = true
                guard var array = try parser.beginArray(at: "choices", depth: 1) else {
                    choices = []
                    continue
                }
                var read: [Choice] = []
                while try parser.nextElement(&array) { read.append(try choice(&parser, read.count)) }
                choices = read
            case "created" where !seen.created:
                seen.created = true
                created = try parser.readInt(at: "created", depth: 1)
            case "model" where !seen.model:
                seen.model = true
                model = try parser.readString(at: "model")
            case "object" where !seen.object:
                seen.object = true
                object = try parser.readString(at: "object")
            case "usage" where !seen.usage:
                seen.usage = true
                usage = try ChatUsage(reading: &parser, at: "usage", depth: 1)
            default: try parser.skipValue(depth: 1)
            }
        }
        self.choices = choices
        self.created = created
        self.model = model
        self.object = object
        self.usage = usage
    }
}

extension ChatChunk.Choice {
    /// Reads one choice of a stream event (the parser is at its value). Member paths are made only for an error.
    fileprivate init(reading parser: inout JSONByteParser, index position: Int) throws {
        func path() -> String { "choices[\(position)]" }
        var index: Int??
        var delta = ChatChunk.Delta()
        var deltaSeen = false
        var finishReason: String??
        // A loop, not closures: the delta read here moves into the choice (captured, it was copied out).
        guard var members = try parser.beginObject(at: path(), depth: 2) else {
            throw JSONFields.TypeError(path: path(), expected: "an object")
        }
        while let name = try parser.nextMember(&members) {
            switch name {
            case "index" where index == nil: index = .some(try parser.readInt(at: "\(path()).index", depth: 3))
            case "delta" where !deltaSeen:
                deltaSeen = true
                guard var deltaMembers = try parser.beginObject(at: "\(path()).delta", depth: 3) else { continue }
                while let name = try parser.nextMember(&deltaMembers) {
                    try delta.read(name, from: &parser, at: "\(path()).delta")
                }
            case "finish_reason" where finishReason == nil:
                finishReason = .some(try parser.readString(at: "\(path()).finish_reason"))
            default: try parser.skipValue(depth: 3)
            }
        }
        self.index = (index ?? nil) ?? 0
        self.delta = delta
        self.finishReason = (finishReason ?? nil).map(ChatFinishReason.init(rawValue:))
    }
}

extension ChatChunk.Delta {
    /// Reads one member of a delta (the parser is at its value); a repeated member keeps its first non-null value.
    fileprivate mutating func read(
        _ name: JSONByteParser.MemberName,
        from parser: inout JSONByteParser,
        at path: @autoclosure () -> String
    ) throws {
        switch name {
        case "content" where content == nil: content = try parser.readString(at: "\(path()).content")
        case "role" where role == nil: role = try parser.readString(at: "\(path()).role").map(ChatRole.init(rawValue:))
        case "function_call" where functionCall == nil:
            functionCall = try parser.readFields(at: "\(path()).function_call", depth: 4).map(
                ChatFunctionCall.init(json:)
            )
        case "functions_state_id" where functionsStateID == nil:
            functionsStateID = try parser.readString(at: "\(path()).functions_state_id")
        case "reasoning_content" where reasoningContent == nil:
            reasoningContent = try parser.readString(at: "\(path()).reasoning_content")
        default: try parser.skipValue(depth: 4)
        }
    }
}

extension ChatResponse: FastJSONDecodable {
    /// Decodes a whole answer's JSON member by member off the bytes, as a stream event is (no dictionary per
    /// object; the answer's text is the one long string). A repeated member keeps its first value.
    init(json bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try ChatResponse(json: $0) }
    }

    init(json bytes: UnsafeRawBufferPointer) throws {
        let top = try TopLevelMembers(reading: bytes) { parser, index in try Choice(reading: &parser, index: index) }
        guard let choices = top.choices else { throw JSONFields.TypeError(path: "choices", expected: "an array") }
        guard let model = top.model else { throw JSONFields.TypeError(path: "model", expected: "a string") }
        self.init(choices: choices, created: top.created, model: model, object: top.object, usage: top.usage)
    }
}

extension ChatResponse.Choice {
    /// Reads one choice of an answer (the parser is at its value). Member paths are made only for an error.
    fileprivate init(reading parser: inout JSONByteParser, index position: Int) throws {
        func path() -> String { "choices[\(position)]" }
        var index: Int??
        var message: ChatMessage??
        var finishReason: String??
        guard var members = try parser.beginObject(at: path(), depth: 2) else {
            throw JSONFields.TypeError(path: path(), expected: "an object")
        }
        while let name = try parser.nextMember(&members) {
            switch name {
            case "index" where index == nil: index = .some(try parser.readInt(at: "\(path()).index", depth: 3))
            case "message" where message == nil:
                message = .some(try ChatMessage(reading: &parser, at: "\(path()).message"))
            case "finish_reason" where finishReason == nil:
                finishReason = .some(try parser.readString(at: "\(path()).finish_reason"))
            default: try parser.skipValue(depth: 3)
            }
        }
        guard let message = message ?? nil else {
            throw JSONFields.TypeError(path: "\(path()).message", expected: "an object")
        }
        self.init(
            index: (index ?? nil) ?? 0,
            message: message,
            finishReason: (finishReason ?? nil).map(ChatFinishReason.init(rawValue:))
        )
    }
}

extension ChatMessage {
    /// Reads an answer's message (the parser is at its value); `nil` for `null`.
    fileprivate init?(reading parser: inout JSONByteParser, at path: @autoclosure () -> String) throws {
        var role: String??
        var content: String??
        var name: String??
        var attachments: [String]??
        var functionCall: ChatFunctionCall??
        var functionsStateID: String??
        var reasoningContent: String??
        guard var members = try parser.beginObject(at: path(), depth: 3) else { return nil }
        while let member = try parser.nextMember(&members) {
            switch member {
            case "role" where role == nil: role = .some(try parser.readString(at: "\(path()).role"))
            case "content" where content == nil: content = .some(try parser.readString(at: "\(path()).content"))
            case "name" where name == nil: name = .some(try parser.readString(at: "\(path()).name"))
            case "attachments" where attachments == nil:
                guard var array = try parser.beginArray(at: "\(path()).attachments", depth: 4) else {
                    attachments = .some(nil)
                    continue
                }
                var read: [String] = []
                while try parser.nextElement(&array) {
                    guard let text = try parser.readString(at: "\(path()).attachments") else {
                        throw JSONFields.TypeError(path: "\(path()).attachments", expected: "strings")
                    }
                    read.append(text)
                }
                attachments = .some(read)
            case "function_call" where functionCall == nil:
                functionCall = .some(
                    try parser.readFields(at: "\(path()).function_call", depth: 4).map(ChatFunctionCall.init(json:))
                )
            case "functions_state_id" where functionsStateID == nil:
                functionsStateID = .some(try parser.readString(at: "\(path()).functions_state_id"))
            case "reasoning_content" where reasoningContent == nil:
                reasoningContent = .some(try parser.readString(at: "\(path()).reasoning_content"))
            default: try parser.skipValue(depth: 4)
            }
        }
        guard let role = role ?? nil else { throw JSONFields.TypeError(path: "\(path()).role", expected: "a string") }
        self.init(
            role: ChatRole(rawValue: role),
            content: content ?? nil,
            name: name ?? nil,
            attachments: attachments ?? nil,
            functionCall: functionCall ?? nil,
            functionsStateID: functionsStateID ?? nil
        )
        self.reasoningContent = reasoningContent ?? nil
    }
}
