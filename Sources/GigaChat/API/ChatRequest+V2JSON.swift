import Foundation

// MARK: - ChatRequest as a v2 body

extension ChatRequest {
    /// Parameters that v2 keeps under `model_options` rather than at the top level.
    static let v2ModelOptions: Set<String> = [
        "preset", "temperature", "top_p", "max_tokens", "repetition_penalty", "update_interval",
        "unnormalized_history", "top_logprobs", "reasoning", "response_format",
    ]

    /// The request body for `POST /api/v2/chat/completions` (the shape of the official SDK 0.2.3's
    /// `ChatCompletionRequest`):
    ///
    /// - each message's text becomes a `{"text"}` content part, its attachments a `{"files": [{"id"}]}` part, an
    ///   assistant's function call a `{"function_call"}` part, and a `function` message a `tool` message with a
    ///   `{"function_result": {"name", "result"}}` part (`result` parsed from the content when it is JSON);
    ///   `functions_state_id` is sent as `tools_state_id`;
    /// - the sampling parameters, `reasoning`, `response_format` (and the v1 spelling `reasoning_effort`) go under
    ///   `model_options`, merged with a `model_options` extra parameter;
    /// - `functions` become `tools: [{"functions": {"specifications": [...]}}]` (before any `tools` extra
    ///   parameter), the function-call mode becomes `tool_config`, and `profanity_check` becomes `disable_filter`;
    /// - other extra parameters (`tools`, `tool_config`, `storage`, `assistant_id`, ...) are sent as they are;
    ///   `stream` is sent only when true, as the SDK does.
    /// - Throws: ``GigaChatError`` (``GigaChatError/Code/badRequest``) for `n` > 1, which v2 does not have.
    func v2JSONBytes() throws -> [UInt8] {
        if let n, n != 1 {
            throw GigaChatError(
                code: .badRequest,
                message: "invalid chat options: n: v2 answers one choice; use v1 for n > 1"
            )
        }
        var json = JSONWriter(capacity: 256 + messages.reduce(0) { $0 + ($1.content?.utf8.count ?? 0) })
        json.beginObject()
        var written: Set<String> = ["messages", "n", "reasoning_effort", "model_options"]
        if let model {
            json.key("model")
            json.string(model)
            written.insert("model")
        }
        json.key("messages")
        json.beginArray()
        for message in messages { Self.writeV2(message, into: &json) }
        json.endArray()

        var options = Self.v2Options(extraParameters)
        if let temperature { options["temperature"] = .number(temperature) }
        if let topP { options["top_p"] = .number(topP) }
        if let maxTokens { options["max_tokens"] = .number(Double(maxTokens)) }
        if let repetitionPenalty { options["repetition_penalty"] = .number(repetitionPenalty) }
        if let updateInterval { options["update_interval"] = .number(updateInterval) }
        written.formUnion(Self.v2ModelOptions)
        if !options.isEmpty {
            json.key("model_options")
            json.value(.object(options))
        }
        if let functions {
            json.key("tools")
            json.beginArray()
            json.beginObject()
            json.key("functions")
            json.beginObject()
            json.key("specifications")
            json.raw(Array(try JSONEncoder().encode(functions)))
            json.endObject()
            json.endObject()
            if case .array(let more)? = extraParameters["tools"] {
                for tool in more { json.value(tool) }
            }
            json.endArray()
            written.insert("tools")
        }
        if let functionCall {
            json.key("tool_config")
            switch functionCall {
            case .auto: json.value(.object(["mode": .string("auto")]))
            case .none: json.value(.object(["mode": .string("none")]))
            case .function(let name):
                json.value(.object(["mode": .string("forced"), "function_name": .string(name)]))
            }
            written.insert("tool_config")
        }
        if let profanityCheck {
            json.key("disable_filter")
            json.bool(!profanityCheck)
            written.insert("disable_filter")
        }
        written.insert("profanity_check")
        if let flags {
            json.key("flags")
            json.value(.array(flags.map(JSONValue.string)))
            written.insert("flags")
        }
        if stream == true {
            json.key("stream")
            json.bool(true)
        }
        written.insert("stream")
        for (name, value) in extraParameters.sorted(by: { $0.key < $1.key }) where !written.contains(name) {
            json.rawKey(name)
            json.value(value)
        }
        json.endObject()
        return json.bytes
    }

    /// The `model_options` the extra parameters give: a `model_options` object, the v2 option names found at the
    /// top level, and `reasoning_effort` as `reasoning.effort`.
    private static func v2Options(_ extra: [String: JSONValue]) -> [String: JSONValue] {
        var options: [String: JSONValue] = [:]
        if case .object(let given)? = extra["model_options"] { options = given }
        for name in v2ModelOptions { if let value = extra[name] { options[name] = value } }
        if options["reasoning"] == nil, let effort = extra["reasoning_effort"] {
            options["reasoning"] = .object(["effort": effort])
        }
        return options
    }

    private static func writeV2(_ message: ChatMessage, into json: inout JSONWriter) {
        json.beginObject()
        let isFunctionResult = message.role == .function
        json.key("role")
        json.string(isFunctionResult ? "tool" : message.role.rawValue)
        json.key("content")
        json.beginArray()
        if isFunctionResult {
            var result = JSONValue.string(message.content ?? "")
            if let content = message.content, let parsed = try? JSONValue(parsing: Array(content.utf8)) {
                result = parsed
            }
            json.value(.object(["function_result": .object(["name": .string(message.name ?? ""), "result": result])]))
        } else {
            let hasOtherParts = message.functionCall != nil || !(message.attachments ?? []).isEmpty
            if let content = message.content, !content.isEmpty || !hasOtherParts {
                json.beginObject()
                json.key("text")
                json.string(content)
                json.endObject()
            } else if !hasOtherParts {
                json.beginObject()
                json.key("text")
                json.string("")
                json.endObject()
            }
            if let attachments = message.attachments, !attachments.isEmpty {
                json.value(.object(["files": .array(attachments.map { .object(["id": .string($0)]) })]))
            }
            if let call = message.functionCall {
                json.beginObject()
                json.key("function_call")
                call.write(into: &json)
                json.endObject()
            }
        }
        json.endArray()
        if let state = message.functionsStateID {
            json.key("tools_state_id")
            json.string(state)
        }
        json.endObject()
    }
}
