/// The answer of a non-streamed chat call.
public struct ChatResponse: Codable, Sendable, Hashable {
    /// One answer choice.
    public struct Choice: Codable, Sendable, Hashable {
        /// The choice's index.
        public var index: Int
        /// The answer message (role `assistant`, content, maybe a function call).
        public var message: ChatMessage
        /// Why generation stopped.
        public var finishReason: ChatFinishReason?

        private enum CodingKeys: String, CodingKey {
            case index, message
            case finishReason = "finish_reason"
        }

        /// Creates a choice.
        public init(index: Int, message: ChatMessage, finishReason: ChatFinishReason?) {
            self.index = index
            self.message = message
            self.finishReason = finishReason
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.index = try container.decodeIfPresent(Int.self, forKey: .index) ?? 0
            self.message = try container.decode(ChatMessage.self, forKey: .message)
            self.finishReason = try container.decodeIfPresent(ChatFinishReason.self, forKey: .finishReason)
        }
    }

    /// The choices (one unless `n` > 1).
    public var choices: [Choice]
    /// Unix seconds.
    public var created: Int?
    /// The model as answered, versioned (e.g. `GigaChat:2.0.28.2`).
    public var model: String
    /// `chat.completion`.
    public var object: String?
    /// Token accounting.
    public var usage: ChatUsage?
    /// The server's `X-Request-Id` header (not part of the JSON body).
    public var xRequestID: String?
    /// The server's `X-Session-Id` header (not part of the JSON body).
    public var xSessionID: String?

    /// The first choice's text ("" when it has none).
    public var content: String { self.choices.first?.message.content ?? "" }
    /// The first choice's finish reason.
    public var finishReason: ChatFinishReason? { self.choices.first?.finishReason }
    /// The first choice's function call, with arguments as a JSON object.
    public var functionCall: ChatFunctionCall? { self.choices.first?.message.functionCall }

    /// Creates a response.
    public init(
        choices: [Choice],
        created: Int? = nil,
        model: String,
        object: String? = "chat.completion",
        usage: ChatUsage? = nil
    ) {
        self.choices = choices
        self.created = created
        self.model = model
        self.object = object
        self.usage = usage
    }

    private enum CodingKeys: String, CodingKey {
        case choices, created, model, object, usage
    }
}
