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
}

/// A v2 answer (`POST /api/v2/chat/completions`, not streamed), decoded into a ``ChatResponse``.
struct V2ChatResponse: FastJSONDecodable, Decodable {
    var response: ChatResponse

    init(json bytes: [UInt8]) throws {
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
    /// Decodes one v2 stream event (`response.message.delta` or `response.message.done`).
    init(v2 bytes: [UInt8]) throws {
        let fields = try JSONFields(try JSONValue(parsing: bytes))
        let folded = try V2Messages(fields)
        var delta = ChatChunk.Delta(role: folded.role, content: folded.text, functionCall: folded.functionCall)
        delta.functionsStateID = folded.stateID
        delta.attachments = folded.files.isEmpty ? nil : folded.files
        let finish = try fields.string("finish_reason") ?? folded.finishReason
        let created = try fields.int("created_at")
        self.init(
            choices: [.init(index: 0, delta: delta, finishReason: finish.map(ChatFinishReason.init(rawValue:)))],
            created: try created ?? fields.int("created"),
            model: try fields.string("model"),
            usage: try fields.object("usage").map(ChatUsage.init(v2:))
        )
    }
}
