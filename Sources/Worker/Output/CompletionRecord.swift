import GigaChat

/// The one answer every job ends with, on the completions topic (or the reply topic): DESIGN.md "Messages".
public struct CompletionRecord: Sendable, Hashable {
    /// `ok` or `failed`.
    public enum Status: String, Sendable, Hashable, Codable {
        case ok
        case failed
    }

    /// Why a job failed: a stable code, a message without secrets, and the HTTP status when GigaChat answered.
    public struct Failure: Sendable, Hashable, Codable {
        /// A stable snake_case code (`deadline_exceeded`, `bad_request`, `rate_limited`, ...).
        public var code: String
        /// What happened.
        public var message: String
        /// GigaChat's HTTP status, when it answered.
        public var httpStatus: Int?

        /// Creates a failure.
        public init(code: String, message: String, httpStatus: Int? = nil) {
            self.code = code
            self.message = message
            self.httpStatus = httpStatus
        }

        private enum CodingKeys: String, CodingKey {
            case code, message
            case httpStatus = "http_status"
        }
    }

    /// The job's id.
    public var id: String
    /// `ok` or `failed`.
    public var status: Status
    /// The answer's text (`nil` when failed).
    public var content: String?
    /// Why generation stopped (`stop`, `length`, `function_call`, `blacklist`, ...).
    public var finishReason: String?
    /// The function the model asks to call, when it does.
    public var functionCall: ChatFunctionCall?
    /// Token accounting of the answered attempt.
    public var usage: ChatUsage?
    /// The model as GigaChat answered it (versioned).
    public var model: String?
    /// Attempts made (1 when the first succeeded).
    public var attempts: Int
    /// The attempt that produced this completion: its partials rebuild `content`.
    public var attemptID: String?
    /// From the worker taking the record to this completion, in milliseconds.
    public var latencyMilliseconds: Int
    /// From the answered attempt's start to its first token (streamed) or whole answer (not streamed).
    public var timeToFirstTokenMilliseconds: Int?
    /// The job's `metadata`, echoed.
    public var metadata: JSONValue?
    /// Why it failed.
    public var error: Failure?

    /// Creates a completion.
    public init(
        id: String,
        status: Status,
        content: String? = nil,
        finishReason: String? = nil,
        functionCall: ChatFunctionCall? = nil,
        usage: ChatUsage? = nil,
        model: String? = nil,
        attempts: Int,
        attemptID: String? = nil,
        latencyMilliseconds: Int,
        timeToFirstTokenMilliseconds: Int? = nil,
        metadata: JSONValue? = nil,
        error: Failure? = nil
    ) {
        self.id = id
        self.status = status
        self.content = content
        self.finishReason = finishReason
        self.functionCall = functionCall
        self.usage = usage
        self.model = model
        self.attempts = attempts
        self.attemptID = attemptID
        self.latencyMilliseconds = latencyMilliseconds
        self.timeToFirstTokenMilliseconds = timeToFirstTokenMilliseconds
        self.metadata = metadata
        self.error = error
    }
}

// MARK: - CompletionRecord + Codable

extension CompletionRecord: Codable {
    private enum CodingKeys: String, CodingKey {
        case id, status, content, usage, model, attempts, metadata, error
        case finishReason = "finish_reason"
        case functionCall = "function_call"
        case attemptID = "attempt_id"
        case latencyMilliseconds = "latency_ms"
        case timeToFirstTokenMilliseconds = "ttft_ms"
    }

    public func encode(to encoder: any Encoder) throws {
        // Every field is always present (null when empty), except function_call and error, which appear only
        // when there is one: readers get one shape.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encode(content, forKey: .content)
        try container.encode(finishReason, forKey: .finishReason)
        try container.encodeIfPresent(functionCall, forKey: .functionCall)
        try container.encode(usage, forKey: .usage)
        try container.encode(model, forKey: .model)
        try container.encode(attempts, forKey: .attempts)
        try container.encode(attemptID, forKey: .attemptID)
        try container.encode(latencyMilliseconds, forKey: .latencyMilliseconds)
        try container.encode(timeToFirstTokenMilliseconds, forKey: .timeToFirstTokenMilliseconds)
        try container.encode(metadata, forKey: .metadata)
        try container.encodeIfPresent(error, forKey: .error)
    }
}
