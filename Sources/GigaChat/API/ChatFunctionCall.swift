import Foundation

/// A function call requested by the model (or replayed in the history): a name and its arguments.
public struct ChatFunctionCall: Codable, Sendable, Hashable {
    /// The function's name.
    public var name: String
    /// The arguments as a JSON object (GigaChat sends an object, not a string as OpenAI does).
    public var arguments: JSONValue?

    /// Creates a function call.
    public init(name: String, arguments: JSONValue? = nil) {
        self.name = name
        self.arguments = arguments
    }

    private enum CodingKeys: String, CodingKey {
        case name, arguments
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        let arguments = try container.decodeIfPresent(JSONValue.self, forKey: .arguments)
        // Tolerate OpenAI-style string arguments by parsing them; keep the string when it is not JSON.
        if case .string(let text) = arguments,
            let parsed = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        {
            self.arguments = parsed
        } else {
            self.arguments = arguments
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encodeIfPresent(self.arguments, forKey: .arguments)
    }
}
