import Foundation

// The fast path for the models read on every call: from a parsed `JSONValue`, with the same rules as their
// `Codable` conformances (missing optional members are `nil`; wrong types are errors).

extension ChatUsage {
    init(json fields: JSONFields) throws(JSONFields.TypeError) {
        self.init(
            promptTokens: try fields.int("prompt_tokens") ?? 0,
            completionTokens: try fields.int("completion_tokens") ?? 0,
            totalTokens: try fields.int("total_tokens") ?? 0,
            precachedPromptTokens: try fields.int("precached_prompt_tokens") ?? 0
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

extension ChatMessage {
    init(json fields: JSONFields) throws(JSONFields.TypeError) {
        self.init(
            role: ChatRole(rawValue: try fields.requiredString("role")),
            content: try fields.string("content"),
            name: try fields.string("name"),
            attachments: try fields.array("attachments").map { items throws(JSONFields.TypeError) in
                try items.map { item throws(JSONFields.TypeError) in
                    guard case .string(let text) = item else {
                        throw JSONFields.TypeError(path: "attachments", expected: "strings")
                    }
                    return text
                }
            },
            functionCall: try fields.object("function_call").map(ChatFunctionCall.init(json:)),
            functionsStateID: try fields.string("functions_state_id")
        )
        self.reasoningContent = try fields.string("reasoning_content")
    }
}

extension ChatChunk {
    /// Decodes one stream event's JSON.
    init(json bytes: [UInt8]) throws {
        let fields = try JSONFields(try JSONValue(parsing: bytes))
        var choices: [Choice] = []
        for choice in try fields.objects("choices") ?? [] {
            var delta = Delta()
            if let deltaFields = try choice.object("delta") {
                delta.role = try deltaFields.string("role").map(ChatRole.init(rawValue:))
                delta.content = try deltaFields.string("content")
                delta.functionCall = try deltaFields.object("function_call").map(ChatFunctionCall.init(json:))
                delta.functionsStateID = try deltaFields.string("functions_state_id")
                delta.reasoningContent = try deltaFields.string("reasoning_content")
            }
            choices.append(
                Choice(
                    index: try choice.int("index") ?? 0,
                    delta: delta,
                    finishReason: try choice.string("finish_reason").map(ChatFinishReason.init(rawValue:))
                )
            )
        }
        self.init(
            choices: choices,
            created: try fields.int("created"),
            model: try fields.string("model"),
            usage: try fields.object("usage").map(ChatUsage.init(json:))
        )
        self.object = try fields.string("object")
    }
}

extension ChatResponse: FastJSONDecodable {
    /// Decodes a whole answer's JSON.
    init(json bytes: [UInt8]) throws {
        let fields = try JSONFields(try JSONValue(parsing: bytes))
        var choices: [Choice] = []
        for choice in try fields.objects("choices") ?? [] {
            guard let message = try choice.object("message") else {
                throw JSONFields.TypeError(path: "\(choice.path).message", expected: "an object")
            }
            choices.append(
                Choice(
                    index: try choice.int("index") ?? 0,
                    message: try ChatMessage(json: message),
                    finishReason: try choice.string("finish_reason").map(ChatFinishReason.init(rawValue:))
                )
            )
        }
        guard fields.members["choices"] != nil else { throw JSONFields.TypeError(path: "choices", expected: "an array") }
        self.init(
            choices: choices,
            created: try fields.int("created"),
            model: try fields.requiredString("model"),
            object: try fields.string("object"),
            usage: try fields.object("usage").map(ChatUsage.init(json:))
        )
    }
}
