/// The size of one input of `POST /tokens/count`.
public struct TokensCount: Codable, Sendable, Hashable {
    /// `tokens`.
    public var object: String?
    /// Number of tokens.
    public var tokens: Int
    /// Number of characters.
    public var characters: Int

    /// Creates a count.
    public init(object: String? = "tokens", tokens: Int, characters: Int) {
        self.object = object
        self.tokens = tokens
        self.characters = characters
    }
}
