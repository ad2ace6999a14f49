/// The author of a chat message. Extensible: unknown roles from the server are kept as they are.
public struct ChatRole: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible {
    /// The role's wire name.
    public var rawValue: String
    /// Creates a role from its wire name.
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Instructions; at most one, and it must be the first message.
    public static let system = ChatRole(rawValue: "system")
    /// The user's input.
    public static let user = ChatRole(rawValue: "user")
    /// The model's answer.
    public static let assistant = ChatRole(rawValue: "assistant")
    /// The result of a function call (`content` is a JSON object serialised to a string, plus `name`).
    public static let function = ChatRole(rawValue: "function")
    /// A built-in function is still running (server-side tools).
    public static let functionInProgress = ChatRole(rawValue: "function_in_progress")

    public var description: String { self.rawValue }
}
