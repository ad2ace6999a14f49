/// Why the model stopped. Extensible: unknown values from the server are kept as they are.
public struct ChatFinishReason: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The reason's wire name.
    public var rawValue: String
    /// Creates a reason from its wire name.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// The answer is complete.
    public static let stop = ChatFinishReason(rawValue: "stop")
    /// `max_tokens` or the context length was reached.
    public static let length = ChatFinishReason(rawValue: "length")
    /// The model asks for a function call (see ``ChatMessage/functionCall``).
    public static let functionCall = ChatFinishReason(rawValue: "function_call")
    /// The answer touched a restricted topic.
    public static let blacklist = ChatFinishReason(rawValue: "blacklist")
    /// The function arguments were invalid.
    public static let error = ChatFinishReason(rawValue: "error")

    public var description: String { self.rawValue }
}
