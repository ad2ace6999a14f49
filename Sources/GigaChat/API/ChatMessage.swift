/// One message of a conversation, as sent in `messages` and answered in `choices[].message`.
public struct ChatMessage: Codable, Sendable, Hashable {
    /// Who wrote it.
    public var role: ChatRole
    /// The text (for ``ChatRole/function``: a JSON object serialised to a string).
    public var content: String?
    /// The function's name, for ``ChatRole/function`` messages.
    public var name: String?
    /// Ids of uploaded files (`POST /files`) attached to the message.
    public var attachments: [String]?
    /// A function call the assistant made (in the history) or asks for (in an answer).
    public var functionCall: ChatFunctionCall?
    /// The function-call state id to echo back with the assistant message.
    public var functionsStateID: String?
    /// The model's reasoning text, when a reasoning model sends it.
    public var reasoningContent: String?

    /// Creates a message.
    public init(
        role: ChatRole,
        content: String?,
        name: String? = nil,
        attachments: [String]? = nil,
        functionCall: ChatFunctionCall? = nil,
        functionsStateID: String? = nil
    ) {
        self.role = role
        self.content = content
        self.name = name
        self.attachments = attachments
        self.functionCall = functionCall
        self.functionsStateID = functionsStateID
        self.reasoningContent = nil
    }

    /// A system message.
    public static func system(_ content: String) -> ChatMessage { ChatMessage(role: .system, content: content) }
    /// A user message.
    public static func user(_ content: String) -> ChatMessage { ChatMessage(role: .user, content: content) }
    /// An assistant message.
    public static func assistant(_ content: String) -> ChatMessage { ChatMessage(role: .assistant, content: content) }

    private enum CodingKeys: String, CodingKey {
        case role, content, name, attachments
        case functionCall = "function_call"
        case functionsStateID = "functions_state_id"
        case reasoningContent = "reasoning_content"
    }
}
