import Foundation

// v2 answers mapped onto the v1 models, so a caller sees one shape whichever API answered:
//
// - the text of every returned message's `{"text"}` parts, in order, is the content; the first `function_call`
//   part is the function call; the ids of `files` parts (generated images, ...) are the attachments;
//   `tool_state_id` (or `tools_state_id`, of the message or of the whole answer) is the functions state id;
// - the top-level `finish_reason` (else the message's) is the finish reason; `created_at` is `created`;
// - usage: `input_tokens` → prompt, `output_tokens` → completion, `total_tokens` → total,
//   `input_tokens_details.cached_tokens` → precached prompt tokens.

extension ChatUsage {
    init(v2 fields: JSONFields) throws(JSONFields.TypeError) {
        let input = try fields.int("input_tokens") ?? 0
        let output = try fields.int("output_tokens") ?? 0
        self.init(
            promptTokens: input,
            completionTokens: output,
            totalTokens: try fields.int("total_tokens") ?? input + output,
            precachedPromptTokens: try fields.object("input_tokens_details")?.int("cached_tokens") ?? 0
        )
    }
}

/// The messages of a v2 answer or stream event, folded into one.
struct V2Messages {
    var role: ChatRole?
    var text: String?
    var functionCall: ChatFunctionCall?
    var files: [String] = []
    var stateID: String?
    var finishReason: String?

    /// Nothing folded yet (for ``read(_:)``).
    init() {}

    /// Folds the `messages` of an answer already parsed into ``JSONFields`` (whole answers: once a call).
    init(_ fields: JSONFields) throws(JSONFields.TypeError) {
        defer {
            // The SDK also reads the state id at the top level of an answer or event, under any of its names.
            if stateID == nil {
                stateID = (try? fields.string("tools_state_id")) ?? (try? fields.string("tool_state_id")) ?? nil
            }
            if stateID == nil { stateID = (try? fields.string("functions_state_id")) ?? nil }
        }
        for message in try fields.objects("messages") ?? [] {
            if role == nil, let name = try message.string("role") { role = ChatRole(rawValue: name) }
            if stateID == nil { stateID = try message.string("tool_state_id") }
            if stateID == nil { stateID = try message.string("tools_state_id") }
            if finishReason == nil { finishReason = try message.string("finish_reason") }
            for part in try message.objects("content") ?? [] {
                if let piece = try part.string("text") { text = (text ?? "") + piece }
                if functionCall == nil, let call = try part.object("function_call") {
                    functionCall = try ChatFunctionCall(json: call)
                }
                for file in try part.objects("files") ?? [] { files.append(try file.requiredString("id")) }
            }
        }
    }

    /// Folds a v2 event's `messages` off the bytes, member by member (an event comes every few milliseconds of
    /// every stream), with the same rules as ``init(_:)``; the parser is at the array.
    mutating func read(_ parser: inout JSONByteParser) throws {
        _ = try parser.readArray(at: "messages", depth: 1) { parser, index in
            func path() -> String { "messages[\(index)]" }
            _ = try parser.readObject(at: path(), depth: 2) { parser, name in
                switch name {
                case "role" where role == nil:
                    role = try parser.readString(at: "\(path()).role").map(ChatRole.init(rawValue:))
                case "tool_state_id" where stateID == nil, "tools_state_id" where stateID == nil:
                    stateID = try parser.readString(at: "\(path()).tool_state_id")
                case "finish_reason" where finishReason == nil:
                    finishReason = try parser.readString(at: "\(path()).finish_reason")
                case "content": try readContent(&parser, at: "\(path()).content")
                default: try parser.skipValue(depth: 3)
                }
            }
        }
    }

    private mutating func readContent(_ parser: inout JSONByteParser, at path: @autoclosure () -> String) throws {
        _ = try parser.readArray(at: path(), depth: 3) { parser, index in
            _ = try parser.readObject(at: "\(path())[\(index)]", depth: 4) { parser, name in
                switch name {
                case "text":
                    if let piece = try parser.readString(at: "\(path())[\(index)].text") { text = (text ?? "") + piece }
                case "function_call" where functionCall == nil:
                    functionCall = try parser.readFields(at: "\(path())[\(index)].function_call", depth: 5).map(
                        ChatFunctionCall.init(json:)
                    )
                case "files":
                    _ = try parser.readArray(at: "\(path())[\(index)].files", depth: 5) { parser, item in
                        let file = try parser.readFields(at: "\(path())[\(index)].files[\(item)]", depth: 6)
                        if let file { files.append(try file.requiredString("id")) }
                    }
                default: try parser.skipValue(depth: 5)
                }
            }
        }
    }
}

/// A v2 answer (`POST /api/v2/chat/completions`, not streamed), decoded into a ``ChatResponse``.
struct V2ChatResponse: FastJSONDecodable, Decodable {
    var response: ChatResponse

    init(json bytes: [UInt8]) throws {
        try self.init(value: try JSONValue(parsing: bytes))
    }

    init(json bytes: UnsafeRawBufferPointer) throws {
        try self.init(value: try JSONValue(parsing: bytes))
    }

    init(from decoder: any Decoder) throws {
        try self.init(value: try JSONValue(from: decoder))
    }

    init(value: JSONValue) throws {
        let fields = try JSONFields(value)
        guard fields.members["messages"] != nil else {
            throw JSONFields.TypeError(path: "messages", expected: "an array")
        }
        let folded = try V2Messages(fields)
        let message = ChatMessage(
            role: folded.role ?? .assistant,
            content: folded.text ?? "",
            attachments: folded.files.isEmpty ? nil : folded.files,
            functionCall: folded.functionCall,
            functionsStateID: folded.stateID
        )
        let finish = try fields.string("finish_reason") ?? folded.finishReason
        let created = try fields.int("created_at")
        self.response = ChatResponse(
            choices: [.init(index: 0, message: message, finishReason: finish.map(ChatFinishReason.init(rawValue:)))],
            created: try created ?? fields.int("created"),
            model: try fields.requiredString("model"),
            usage: try fields.object("usage").map(ChatUsage.init(v2:))
        )
    }
}

extension ChatChunk {
    init(v2 bytes: [UInt8]) throws {
        self = try bytes.withUnsafeBytes { try ChatChunk(v2: $0) }
    }

    /// Decodes one v2 stream event (`response.message.delta` or `response.message.done`), member by member off the
    /// bytes as the v1 event is (``init(json:)``), folding its `messages` with ``V2Messages/read(_:)``; the first
    /// of a repeated member is kept.
    /// - Parameter requestID: The call's `X-Request-Id` (``xRequestID``).
    init(v2 bytes: UnsafeRawBufferPointer, requestID: String? = nil) throws {
        var model: String??
        var created: Int??
        var finish: String??
        var usage: ChatUsage??
        var eventState: String?
        var messages = V2Messages()
        let isObject = try JSONByteParser.read(bytes) { parser in
            try parser.readObject(at: "", depth: 0) { parser, name in
                switch name {
                case "model" where model == nil: model = .some(try parser.readString(at: "model"))
                case "created_at" where created == nil, "created" where created == nil:
                    created = .some(try parser.readInt(at: "created_at", depth: 1))
                case "finish_reason" where finish == nil: finish = .some(try parser.readString(at: "finish_reason"))
                case "usage" where usage == nil:
                    usage = .some(try parser.readFields(at: "usage", depth: 1).map(ChatUsage.init(v2:)))
                case "tools_state_id" where eventState == nil, "tool_state_id" where eventState == nil,
                    "functions_state_id" where eventState == nil:
                    eventState = try parser.readString(at: "tools_state_id")
                case "messages": try messages.read(&parser)
                default: try parser.skipValue(depth: 1)
                }
            }
        }
        guard isObject else { throw JSONFields.TypeError(path: "", expected: "an object") }
        var delta = ChatChunk.Delta(role: messages.role, content: messages.text, functionCall: messages.functionCall)
        delta.functionsStateID = messages.stateID ?? eventState
        delta.attachments = messages.files.isEmpty ? nil : messages.files
        let reason = (finish ?? nil) ?? messages.finishReason
        self.init(
            choices: [.init(index: 0, delta: delta, finishReason: reason.map(ChatFinishReason.init(rawValue:)))],
            created: created ?? nil,
            model: model ?? nil,
            usage: usage ?? nil
        )
        self.xRequestID = requestID
    }
}
