import Foundation

// MARK: - ChatRequest + JSON bytes

extension ChatRequest {
    /// The request body, written directly (the same members as `encode(to:)`); functions and the function-call
    /// mode, rare and nested, go through `JSONEncoder`.
    func jsonBytes() throws -> [UInt8] {
        var json = JSONWriter(capacity: 256 + messages.reduce(0) { $0 + ($1.content?.utf8.count ?? 0) })
        json.beginObject()
        if let model {
            json.key("model")
            json.string(model)
        }
        json.key("messages")
        json.beginArray()
        for message in messages { Self.write(message, into: &json) }
        json.endArray()
        func number(_ key: StaticString, _ value: Double?) {
            guard let value else { return }
            json.key(key)
            json.double(value)
        }
        func integer(_ key: StaticString, _ value: Int?) {
            guard let value else { return }
            json.key(key)
            json.int(value)
        }
        number("temperature", temperature)
        number("top_p", topP)
        integer("n", n)
        if let stream {
            json.key("stream")
            json.bool(stream)
        }
        integer("max_tokens", maxTokens)
        number("repetition_penalty", repetitionPenalty)
        number("update_interval", updateInterval)
        if let functions {
            json.key("functions")
            json.raw(Array(try JSONEncoder().encode(functions)))
        }
        if let functionCall {
            json.key("function_call")
            json.raw(Array(try JSONEncoder().encode(functionCall)))
        }
        if let profanityCheck {
            json.key("profanity_check")
            json.bool(profanityCheck)
        }
        if let flags {
            json.key("flags")
            json.value(.array(flags.map(JSONValue.string)))
        }
        // An extra parameter named like a typed field is sent only when that field is unset. The set of typed fields
        // is made only when there are extra parameters (making it for every call cost a set and its hashes).
        if !extraParameters.isEmpty {
            let typed = typedFieldNames
            for (name, value) in extraParameters.sorted(by: { $0.key < $1.key }) where !typed.contains(name) {
                json.rawKey(name)
                json.value(value)
            }
        }
        json.endObject()
        return json.bytes
    }

    /// The body's members that typed fields of this request set (an extra parameter of the same name is not sent).
    private var typedFieldNames: Set<String> {
        var names: Set<String> = ["messages"]
        let set: [(String, Bool)] = [
            ("model", model != nil), ("temperature", temperature != nil), ("top_p", topP != nil), ("n", n != nil),
            ("stream", stream != nil), ("max_tokens", maxTokens != nil),
            ("repetition_penalty", repetitionPenalty != nil), ("update_interval", updateInterval != nil),
            ("functions", functions != nil), ("function_call", functionCall != nil),
            ("profanity_check", profanityCheck != nil), ("flags", flags != nil),
        ]
        for (name, isSet) in set where isSet { names.insert(name) }
        return names
    }

    private static func write(_ message: ChatMessage, into json: inout JSONWriter) {
        json.beginObject()
        json.key("role")
        json.string(message.role.rawValue)
        if let content = message.content {
            json.key("content")
            json.string(content)
        }
        if let name = message.name {
            json.key("name")
            json.string(name)
        }
        if let attachments = message.attachments {
            json.key("attachments")
            json.value(.array(attachments.map(JSONValue.string)))
        }
        if let call = message.functionCall {
            json.key("function_call")
            call.write(into: &json)
        }
        if let state = message.functionsStateID {
            json.key("functions_state_id")
            json.string(state)
        }
        if let reasoning = message.reasoningContent {
            json.key("reasoning_content")
            json.string(reasoning)
        }
        json.endObject()
    }
}
