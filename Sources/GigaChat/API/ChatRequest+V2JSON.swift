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
    ///   `functions_state_id` is sent as `tools_state_id`, and a tool message without one (or without a name) takes
    ///   the state id (and the function's name) of the assistant's call before it, as the recorded traffic has it;
    /// - the sampling parameters, `reasoning`, `response_format` (and the v1 spelling `reasoning_effort`) go under
    ///   `model_options`, merged with a `model_options` extra parameter;
    /// - `functions` become `tools: [{"functions": {"specifications": [...]}}]` (before any `tools` extra
    ///   parameter; a tool named by a string, `"web_search"`, becomes `{"web_search": {}}` as the SDK writes it), the
    ///   function-call mode becomes `tool_config`, and `profanity_check` becomes `disable_filter` (an explicit
    ///   `disable_filter` extra parameter wins);
    /// - `storage: true` is sent as `{}` and `storage: false` not at all (the SDK's rule); other extra parameters
    ///   (`tool_config`, `storage`, `assistant_id`, ...) are sent as they are; `stream` only when true, as the SDK does.
    ///
    /// Precedence for `model_options`: a typed field, then the extra `model_options` object, then the same name at
    /// the top level.
    /// - Throws: ``GigaChatError`` (``GigaChatError/Code/badRequest``) for `n` > 1, which v2 does not have, and for a
    ///   `model_options` that is not an object or `tools` that is not an array.
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
        var call: (name: String?, state: String?) = (nil, nil)
        for message in messages {
            if message.role == .assistant { call = (message.functionCall?.name, message.functionsStateID) }
            Self.writeV2(message, after: call, into: &json)
        }
        json.endArray()

        var options = try Self.v2Options(extraParameters)
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
        var tools: [JSONValue] = []
        switch extraParameters["tools"] {
        case .none, .null?: break
        case .array(let given)?:
            tools = given.map { tool in if case .string(let name) = tool { [name: [:]] } else { tool } }
        default: throw Self.invalidV2("tools: expected an array of tools")
        }
        written.insert("tools")
        if functions != nil || !tools.isEmpty {
            json.key("tools")
            json.beginArray()
            if let functions {
                json.beginObject()
                json.key("functions")
                json.beginObject()
                json.key("specifications")
                json.raw(Array(try JSONEncoder().encode(functions)))
                json.endObject()
                json.endObject()
            }
            for tool in tools { json.value(tool) }
            json.endArray()
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
        if let profanityCheck, extraParameters["disable_filter"] ?? .null == .null {
            json.key("disable_filter")
            json.bool(!profanityCheck)
            written.insert("disable_filter")
        }
        written.insert("profanity_check")
        switch extraParameters["storage"] {
        case .bool(true)?:
            json.key("storage")
            json.value(.object([:]))
        case .bool(false)?, .null?, .none: break
        case let storage?:
            json.key("storage")
            json.value(storage)
        }
        written.insert("storage")
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
    private static func v2Options(_ extra: [String: JSONValue]) throws -> [String: JSONValue] {
        var options: [String: JSONValue] = [:]
        switch extra["model_options"] {
        case .none, .null?: break
        case .object(let given)?: options = given
        default: throw invalidV2("model_options: expected an object")
        }
        for name in v2ModelOptions where options[name] == nil {
            if let value = extra[name] { options[name] = value }
        }
        if options["reasoning"] == nil, let effort = extra["reasoning_effort"] {
            options["reasoning"] = .object(["effort": effort])
        }
        return options
    }

    private static func invalidV2(_ detail: String) -> GigaChatError {
        GigaChatError(code: .badRequest, message: "invalid chat options: \(detail)")
    }

    /// One message; `call` is the function call (name, state id) of the last assistant message before it.
    private static func writeV2(
        _ message: ChatMessage,
        after call: (name: String?, state: String?),
        into json: inout JSONWriter
    ) {
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
            let name = message.name ?? call.name ?? ""
            json.value(.object(["function_result": .object(["name": .string(name), "result": result])]))
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
        if let state = message.functionsStateID ?? (isFunctionResult ? call.state : nil) {
            json.key("tools_state_id")
            json.string(state)
        }
        json.endObject()
    }
}
