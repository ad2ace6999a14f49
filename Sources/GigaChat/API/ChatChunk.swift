/// One streamed event of a chat answer (`data: {...}` of the SSE stream).
///
/// `role` comes only in the first delta; `finish_reason` and `usage` come in the event before `[DONE]`,
/// whose delta content is empty; a delta may have no `content` at all (function calls, reasoning).
public struct ChatChunk: Codable, Sendable, Hashable {
    /// The incremental part of a message.
    public struct Delta: Codable, Sendable, Hashable {
        /// Present in the first delta only.
        public var role: ChatRole?
        /// New text; absent in some deltas.
        public var content: String?
        /// A function call, when the model asks for one.
        public var functionCall: ChatFunctionCall?
        /// The function-call state id.
        public var functionsStateID: String?
        /// Reasoning text of reasoning models.
        public var reasoningContent: String?
        /// Ids of files the model generated in this event (v2 `files` parts).
        public var attachments: [String]?

        /// Creates a delta.
        public init(role: ChatRole? = nil, content: String? = nil, functionCall: ChatFunctionCall? = nil) {
            self.role = role
            self.content = content
            self.functionCall = functionCall
        }

        private enum CodingKeys: String, CodingKey {
            case role, content
            case functionCall = "function_call"
            case functionsStateID = "functions_state_id"
            case reasoningContent = "reasoning_content"
        }
    }

    /// One choice's delta.
    public struct Choice: Codable, Sendable, Hashable {
        /// The choice's index.
        public var index: Int
        /// The new part.
        public var delta: Delta
        /// Set only in the event before `[DONE]`.
        public var finishReason: ChatFinishReason?

        /// Creates a choice.
        public init(index: Int = 0, delta: Delta, finishReason: ChatFinishReason? = nil) {
            self.index = index
            self.delta = delta
            self.finishReason = finishReason
        }

        private enum CodingKeys: String, CodingKey {
            case index, delta
            case finishReason = "finish_reason"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.index = try container.decodeIfPresent(Int.self, forKey: .index) ?? 0
            self.delta = try container.decodeIfPresent(Delta.self, forKey: .delta) ?? Delta()
            self.finishReason = try container.decodeIfPresent(ChatFinishReason.self, forKey: .finishReason)
        }
    }

    /// The choices' deltas (may be empty).
    public var choices: [Choice]
    /// Unix seconds.
    public var created: Int?
    /// The model as answered, versioned.
    public var model: String?
    /// `chat.completion` (GigaChat does not say `chat.completion.chunk`).
    public var object: String?
    /// Token accounting, in the event before `[DONE]`.
    public var usage: ChatUsage?
    /// The server's `X-Request-Id` header of the call (not part of the JSON event).
    public var xRequestID: String?

    /// The first choice's new text ("" when absent).
    ///
    /// These read through the array's subscript, which lends the element: `choices.first` copied the whole first
    /// choice (every string of its delta retained and released) for each member read, several times an event.
    public var content: String { self.choices.isEmpty ? "" : self.choices[0].delta.content ?? "" }
    /// The first choice's finish reason, when this is the final event.
    public var finishReason: ChatFinishReason? { self.choices.isEmpty ? nil : self.choices[0].finishReason }
    /// The first choice's function call, when present.
    public var functionCall: ChatFunctionCall? { self.choices.isEmpty ? nil : self.choices[0].delta.functionCall }

    /// Creates a chunk.
    public init(choices: [Choice], created: Int? = nil, model: String? = nil, usage: ChatUsage? = nil) {
        self.choices = choices
        self.created = created
        self.model = model
        self.object = "chat.completion"
        self.usage = usage
    }

    private enum CodingKeys: String, CodingKey {
        case choices, created, model, object, usage
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.choices = try container.decodeIfPresent([Choice].self, forKey: .choices) ?? []
        self.created = try container.decodeIfPresent(Int.self, forKey: .created)
        self.model = try container.decodeIfPresent(String.self, forKey: .model)
        self.object = try container.decodeIfPresent(String.self, forKey: .object)
        self.usage = try container.decodeIfPresent(ChatUsage.self, forKey: .usage)
    }
}
