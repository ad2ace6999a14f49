import NIOCore

// MARK: - GigaChatEmulator + structured answers

extension GigaChatEmulator {
    /// The answer to a request with `response_format` `json_schema`: a JSON value that satisfies the schema, written
    /// compactly, so a test can predict it and a validator accepts it.
    ///
    /// The value is built from the schema: `const`, else the first `enum` value, else by `type` (the first non-null
    /// one of a list): an object has every property, in the schema's order; a string is the prompt's first word
    /// (`"emulator"` when there is none), padded with `x` to `minLength` and cut to `maxLength`; a number or integer is
    /// `minimum` (or `exclusiveMinimum` + 1), else 0 raised to it, capped at `maximum`; a boolean is `true`; an array
    /// has `max(minItems, 1)` items (at most `maxItems`); `$ref` to `#/$defs/...` or `#/definitions/...` is followed,
    /// `anyOf`/`oneOf` take their first branch and `allOf` its first. A schema without a type gives `null`.
    /// - Parameters:
    ///   - schemaJSON: The JSON Schema of `response_format.schema`, as JSON text.
    ///   - prompt: The last user message.
    /// - Returns: The JSON text, or `nil` when `schemaJSON` is not JSON.
    public static func structuredAnswer(schemaJSON: String, prompt: String) -> String? {
        var buffer = ByteBufferAllocator().buffer(capacity: schemaJSON.utf8.count)
        buffer.writeString(schemaJSON)
        guard let schema = try? EmulatorJSON.parse(buffer) else { return nil }
        return structuredAnswer(schema: schema, prompt: prompt)
    }

    static func structuredAnswer(schema: EmulatorJSON, prompt: String) -> String {
        let word = words(of: prompt).first.map(String.init) ?? "emulator"
        let value = instance(of: schema, root: schema, word: word, depth: 0)
        var buffer = ByteBufferAllocator().buffer(capacity: 128)
        value.write(into: &buffer)
        return String(buffer: buffer)
    }

    private static func instance(of schema: EmulatorJSON, root: EmulatorJSON, word: String, depth: Int) -> EmulatorJSON
    {
        guard depth < 16 else { return .null }
        if let reference = schema["$ref"]?.stringValue {
            for prefix in ["#/$defs/", "#/definitions/"] where reference.hasPrefix(prefix) {
                let name = String(reference.dropFirst(prefix.count))
                if let target = root[prefix == "#/$defs/" ? "$defs" : "definitions"]?[name] {
                    return instance(of: target, root: root, word: word, depth: depth + 1)
                }
            }
            return .null
        }
        if let constant = schema["const"] { return constant }
        if let first = schema["enum"]?.arrayValue?.first { return first }
        for combinator in ["anyOf", "oneOf", "allOf"] {
            if let first = schema[combinator]?.arrayValue?.first {
                return instance(of: first, root: root, word: word, depth: depth + 1)
            }
        }
        var type = schema["type"]?.stringValue
        if type == nil { type = schema["type"]?.arrayValue?.compactMap(\.stringValue).first { $0 != "null" } }
        switch type {
        case "object":
            let properties = schema["properties"]?.objectValue ?? []
            return .object(properties.map { ($0.0, instance(of: $0.1, root: root, word: word, depth: depth + 1)) })
        case "array":
            guard let items = schema["items"] else { return .array([]) }
            var count = max(schema["minItems"]?.intValue ?? 0, 1)
            if let most = schema["maxItems"]?.intValue { count = min(count, most) }
            let item = instance(of: items, root: root, word: word, depth: depth + 1)
            return .array(Array(repeating: item, count: count))
        case "string":
            var text = word
            if let least = schema["minLength"]?.intValue, text.count < least {
                text += String(repeating: "x", count: least - text.count)
            }
            if let most = schema["maxLength"]?.intValue, text.count > most { text = String(text.prefix(most)) }
            return .string(text)
        case "integer", "number":
            var number = 0.0
            if let least = schema["minimum"]?.numberValue { number = max(number, least) }
            if let above = schema["exclusiveMinimum"]?.numberValue { number = max(number, above + 1) }
            if let most = schema["maximum"]?.numberValue { number = min(number, most) }
            if let below = schema["exclusiveMaximum"]?.numberValue, number >= below { number = below - 1 }
            if type == "integer" { number = number.rounded(.up) }
            return .number(number)
        case "boolean":
            return .bool(true)
        default:
            return .null
        }
    }
}
