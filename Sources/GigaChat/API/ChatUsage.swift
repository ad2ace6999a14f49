/// Token accounting of a chat answer (`usage`).
public struct ChatUsage: Codable, Sendable, Hashable {
    /// Tokens in the prompt.
    public var promptTokens: Int
    /// Tokens generated.
    public var completionTokens: Int
    /// `total_tokens` as GigaChat reports it: prompt plus completion, cached prompt tokens included on v1 and v2 alike
    /// in the recorded traffic (the docs say cached tokens are not billed; subtract ``precachedPromptTokens`` for
    /// an estimate of the billed count).
    public var totalTokens: Int
    /// Prompt tokens served from the server's prefix cache; 0 when the server did not say.
    public var precachedPromptTokens: Int

    /// Creates a usage record.
    public init(promptTokens: Int, completionTokens: Int, totalTokens: Int, precachedPromptTokens: Int = 0) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
        self.totalTokens = totalTokens
        self.precachedPromptTokens = precachedPromptTokens
    }

    private enum CodingKeys: String, CodingKey {
        case promptTokens = "prompt_tokens"
        case completionTokens = "completion_tokens"
        case totalTokens = "total_tokens"
        case precachedPromptTokens = "precached_prompt_tokens"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.promptTokens = try container.decodeIfPresent(Int.self, forKey: .promptTokens) ?? 0
        self.completionTokens = try container.decodeIfPresent(Int.self, forKey: .completionTokens) ?? 0
        self.totalTokens = try container.decodeIfPresent(Int.self, forKey: .totalTokens) ?? 0
        self.precachedPromptTokens = try container.decodeIfPresent(Int.self, forKey: .precachedPromptTokens) ?? 0
    }
}
