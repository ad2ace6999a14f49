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
        /// The kind of failure; extensible, and read back as it is (a reader of completions accepts codes it does
        /// not know). Its `rawValue` is the completion's `error.code`.
        public struct Code: Sendable, Hashable, Codable, CustomStringConvertible {
            /// The wire name (snake_case).
            public let rawValue: String
            /// A code by its wire name (for codes read back; the worker's own are the static members).
            public init(rawValue: String) { self.rawValue = rawValue }

            /// The job's `deadline` (or `jobs.timeout`) passed.
            public static let deadlineExceeded = Code(rawValue: "deadline_exceeded")
            /// The completion did not fit the broker's limit: the answer was left out (``Outcome``).
            public static let outputTooLarge = Code(rawValue: "output_too_large")
            /// GigaChat answered with `finish_reason` `blacklist`: a refusal, not content.
            public static let contentRefused = Code(rawValue: "content_refused")
            /// A structured-output job's answer was not JSON or broke its schema, corrective attempts included; the
            /// message names the first violation.
            public static let invalidOutput = Code(rawValue: "invalid_output")
            /// A structured-output job's answer was cut by `max_tokens` (`finish_reason` `length`): not parsed.
            public static let truncated = Code(rawValue: "truncated")
            /// The request could not be built (GigaChat's 400 is ``badRequest`` too).
            public static let badRequest = Code(rawValue: "bad_request")
            public static let unauthorized = Code(rawValue: "unauthorized")
            public static let paymentRequired = Code(rawValue: "payment_required")
            public static let forbidden = Code(rawValue: "forbidden")
            public static let notFound = Code(rawValue: "not_found")
            public static let payloadTooLarge = Code(rawValue: "payload_too_large")
            public static let unprocessable = Code(rawValue: "unprocessable")
            public static let rateLimited = Code(rawValue: "rate_limited")
            public static let serverError = Code(rawValue: "server_error")
            public static let transport = Code(rawValue: "transport")
            public static let timeout = Code(rawValue: "timeout")
            public static let streamCut = Code(rawValue: "stream_cut")
            public static let decoding = Code(rawValue: "decoding")
            public static let tls = Code(rawValue: "tls")
            public static let configuration = Code(rawValue: "configuration")
            public static let cancelled = Code(rawValue: "cancelled")
            public static let unexpectedStatus = Code(rawValue: "unexpected_status")

            public var description: String { rawValue }

            public init(from decoder: any Decoder) throws {
                rawValue = try decoder.singleValueContainer().decode(String.self)
            }

            public func encode(to encoder: any Encoder) throws {
                var container = encoder.singleValueContainer()
                try container.encode(rawValue)
            }
        }

        /// The kind of failure (`deadline_exceeded`, `bad_request`, `rate_limited`, ...).
        public var code: Code
        /// What happened.
        public var message: String
        /// GigaChat's HTTP status, when it answered.
        public var httpStatus: Int?

        /// Creates a failure.
        public init(code: Code, message: String, httpStatus: Int? = nil) {
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
    /// A structured-output job's answer, parsed and checked against its schema (`content` is its text).
    public var parsed: JSONValue?
    /// An embeddings job's vectors, one per input text, in order.
    public var embeddings: [[Double]]?
    /// A reasoning model's reasoning, when it sent it (v1 `reasoning_content`, streamed or not).
    public var reasoningContent: String?
    /// Ids of files the model generated (images of the built-in tools: v2 `files` parts), to fetch from
    /// `GET /files/{id}/content`.
    public var files: [String]?
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
        parsed: JSONValue? = nil,
        embeddings: [[Double]]? = nil,
        reasoningContent: String? = nil,
        files: [String]? = nil,
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
        self.parsed = parsed
        self.embeddings = embeddings
        self.reasoningContent = reasoningContent
        self.files = files
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
        case id, status, content, parsed, embeddings, files, usage, model, attempts, metadata, error
        case reasoningContent = "reasoning_content"
        case finishReason = "finish_reason"
        case functionCall = "function_call"
        case attemptID = "attempt_id"
        case latencyMilliseconds = "latency_ms"
        case timeToFirstTokenMilliseconds = "ttft_ms"
    }

    public func encode(to encoder: any Encoder) throws {
        // Every field is always present (null when empty), except function_call, parsed, embeddings,
        // reasoning_content, files and error, which appear only when there is one: readers get one shape.
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(status, forKey: .status)
        try container.encode(content, forKey: .content)
        try container.encode(finishReason, forKey: .finishReason)
        try container.encodeIfPresent(functionCall, forKey: .functionCall)
        try container.encodeIfPresent(parsed, forKey: .parsed)
        try container.encodeIfPresent(embeddings, forKey: .embeddings)
        try container.encodeIfPresent(reasoningContent, forKey: .reasoningContent)
        try container.encodeIfPresent(files, forKey: .files)
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
