import GigaChat

/// The JSONL line formats `submit` reads, one job per line.
public enum BatchLineFormat: String, Sendable, CaseIterable {
    /// The worker's own job format: `{"id", "messages", ...}`.
    case jobs
    /// OpenAI's Batch API input: `{"custom_id", "method", "url", "body": {"model", "messages", ...}}`.
    case openai
    /// GigaChat's `/batches` input: `{"id", "request": {"model", "messages", ...}}`.
    case gigachat

    /// The format a line is in, from its members.
    public static func detect(_ object: [String: JSONValue]) -> BatchLineFormat? {
        if object["custom_id"] != nil, object["body"] != nil { return .openai }
        if object["request"] != nil, object["id"] != nil { return .gigachat }
        if object["messages"] != nil, object["id"] != nil { return .jobs }
        return nil
    }

    /// The chat parameters carried over from OpenAI's body (the rest is OpenAI's own and dropped);
    /// `max_completion_tokens` becomes `max_tokens`.
    static let openAIOptions: Set<String> = ["temperature", "top_p", "max_tokens", "n", "functions", "function_call"]

    /// Converts one line (already parsed) into a job.
    /// - Parameters:
    ///   - line: The parsed line.
    ///   - number: The line's number (1-based), for errors.
    ///   - model: A model that replaces the line's (`--model`).
    ///   - stream: Whether to stream (`--stream`), when given.
    public func job(from line: JSONValue, number: Int, model: String? = nil, stream: Bool? = nil) throws -> BatchJob {
        guard case .object(let object) = line else { throw BatchInputError("line \(number): not a JSON object") }
        switch self {
        case .jobs:
            guard case .string(let id)? = object["id"], !id.isEmpty else {
                throw BatchInputError("line \(number): no \"id\" (every job needs one)")
            }
            guard case .array? = object["messages"] else { throw BatchInputError("line \(number): no \"messages\" array") }
            var job = object
            if let model { job["model"] = .string(model) }
            if let stream { job["stream"] = .bool(stream) }
            return BatchJob(id: id, value: .object(job))
        case .openai:
            guard case .string(let id)? = object["custom_id"], !id.isEmpty else {
                throw BatchInputError("line \(number): no \"custom_id\"")
            }
            guard case .object(var body)? = object["body"] else { throw BatchInputError("line \(number): no \"body\" object") }
            if let tokens = body.removeValue(forKey: "max_completion_tokens"), body["max_tokens"] == nil {
                body["max_tokens"] = tokens
            }
            let messages = try Self.messages(body["messages"], number: number, openAI: true)
            // OpenAI model names mean nothing to GigaChat: only a GigaChat model is kept.
            let lineModel = body["model"]?.stringValue.flatMap { $0.hasPrefix("GigaChat") ? $0 : nil }
            let options = body.filter { Self.openAIOptions.contains($0.key) }
            return BatchJob(
                id: id, messages: messages, model: model ?? lineModel, stream: stream, options: options,
                metadata: .object(["custom_id": .string(id)])
            )
        case .gigachat:
            guard let id = object["id"].flatMap(Self.idText), !id.isEmpty else { throw BatchInputError("line \(number): no \"id\"") }
            guard case .object(var request)? = object["request"] else {
                throw BatchInputError("line \(number): no \"request\" object")
            }
            let messages = try Self.messages(request["messages"], number: number, openAI: false)
            let lineModel = request.removeValue(forKey: "model")?.stringValue
            for key in ["messages", "stream"] { request[key] = nil }
            return BatchJob(id: id, messages: messages, model: model ?? lineModel, stream: stream, options: request)
        }
    }

    private static func idText(_ value: JSONValue) -> String? {
        switch value {
        case .string(let text): text
        case .number(let number): number == number.rounded() ? String(Int(number)) : String(number)
        default: nil
        }
    }

    /// Messages as role and text; OpenAI's `developer` role is GigaChat's `system`, and its content parts are
    /// joined.
    private static func messages(_ value: JSONValue?, number: Int, openAI: Bool) throws -> [(role: String, content: String)] {
        guard case .array(let items)? = value, !items.isEmpty else {
            throw BatchInputError("line \(number): no \"messages\" array")
        }
        return try items.enumerated().map { index, item in
            guard case .object(let message) = item, case .string(var role)? = message["role"] else {
                throw BatchInputError("line \(number): messages[\(index)] has no role")
            }
            if openAI, role == "developer" { role = "system" }
            switch message["content"] {
            case .string(let text)?:
                return (role, text)
            case .array(let parts)?:
                let texts = parts.compactMap { $0["text"]?.stringValue }
                guard texts.count == parts.count else {
                    throw BatchInputError("line \(number): messages[\(index)] has content parts that are not text")
                }
                return (role, texts.joined(separator: "\n"))
            default:
                throw BatchInputError("line \(number): messages[\(index)] has no text content")
            }
        }
    }
}
