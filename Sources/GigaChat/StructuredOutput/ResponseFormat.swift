import Foundation

/// A request's `response_format` (GigaChat's structured output), read so the answer can be checked.
///
/// `{"type": "json_schema", "schema": {...}, "strict": ...}` on v1 and v2; `{"type": "regex", "regex": "..."}` on v2
/// only; `{"type": "text"}` asks for plain text and checks nothing.
public enum ResponseFormat: Sendable, Hashable {
    /// Plain text.
    case text
    /// A JSON value that satisfies the schema.
    case jsonSchema(JSONSchema)
    /// Text that the whole regular expression matches.
    case regex(String)

    /// A `response_format` that is not usable: the message names the member.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// Reads a `response_format` value.
    /// - Throws: ``Invalid``.
    public init(_ value: JSONValue) throws(Invalid) {
        guard case .object(let members) = value else {
            throw Invalid(message: "response_format: expected an object")
        }
        switch members["type"] {
        case .string("text")?:
            self = .text
        case .string("json_schema")?:
            guard let schema = members["schema"] else {
                throw Invalid(message: "response_format.schema is missing (type json_schema)")
            }
            do {
                self = .jsonSchema(try JSONSchema(schema))
            } catch {
                throw Invalid(message: "response_format.schema: \(error.message)")
            }
        case .string("regex")?:
            guard case .string(let pattern)? = members["regex"], !pattern.isEmpty else {
                throw Invalid(message: "response_format.regex: expected a non-empty string (type regex)")
            }
            guard (try? NSRegularExpression(pattern: pattern)) != nil else {
                throw Invalid(message: "response_format.regex \"\(pattern)\" is not a valid regular expression")
            }
            self = .regex(pattern)
        default:
            throw Invalid(message: "response_format.type: expected json_schema, regex or text")
        }
    }

    /// The format a request's options ask GigaChat for, as the request body will carry it: on v2
    /// `model_options.response_format` wins over a top-level `response_format` (the client's precedence, after the
    /// SDK's); on v1 only the top-level one is sent as the format. `null` is no format.
    /// - Throws: ``Invalid``.
    public static func requested(in options: [String: JSONValue], api: GigaChatAPI) throws(Invalid) -> ResponseFormat? {
        if api == .v2, case .object(let modelOptions)? = options["model_options"],
            let value = modelOptions["response_format"], value != .null
        {
            return try ResponseFormat(value)
        }
        guard let value = options["response_format"], value != .null else { return nil }
        return try ResponseFormat(value)
    }

    /// How an answer measures up to the format.
    public enum Verdict: Sendable, Hashable {
        /// It satisfies the format; `parsed` is the JSON value for ``ResponseFormat/jsonSchema(_:)``.
        case valid(parsed: JSONValue?)
        /// It was cut by `max_tokens` (`finish_reason` `length`): not judged, and no correction can help.
        case truncated
        /// It breaks the format: the first violation.
        case invalid(String)
    }

    /// Judges an answer's text.
    /// - Parameters:
    ///   - content: The answer.
    ///   - finishReason: Its `finish_reason`.
    public func verdict(on content: String, finishReason: String?) -> Verdict {
        if finishReason == "length", self != .text { return .truncated }
        switch self {
        case .text:
            return .valid(parsed: nil)
        case .jsonSchema(let schema):
            let parsed: JSONValue
            do {
                parsed = try JSONValue(parsing: Array(content.utf8))
            } catch {
                return .invalid("the answer is not JSON (\(error.reason) at byte \(error.offset))")
            }
            if let violation = schema.firstViolation(in: parsed) { return .invalid(violation) }
            return .valid(parsed: parsed)
        case .regex(let pattern):
            // `\z`, not `$`: a final newline is not part of a match of the whole answer.
            guard let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))\\z") else {
                return .invalid("the regular expression does not compile")
            }
            let range = NSRange(content.startIndex..<content.endIndex, in: content)
            guard regex.firstMatch(in: content, range: range) != nil else {
                return .invalid("the answer does not match the regular expression \(pattern)")
            }
            return .valid(parsed: nil)
        }
    }

    /// The user message of a corrective attempt: what was wrong, and what to answer instead.
    public func correction(for violation: String) -> ChatMessage {
        let wanted: String
        switch self {
        case .text: wanted = "Answer again."
        case .jsonSchema:
            wanted =
                "Answer again with only a JSON value that satisfies the requested JSON schema: no other text, no code fences."
        case .regex(let pattern): wanted = "Answer again with only text that matches the regular expression \(pattern)."
        }
        return .user("Your previous answer cannot be used: \(violation). \(wanted)")
    }
}
