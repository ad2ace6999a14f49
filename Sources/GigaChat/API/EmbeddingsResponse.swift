/// The answer of `POST /embeddings`.
public struct EmbeddingsResponse: Codable, Sendable, Hashable {
    /// One input's vector.
    public struct Embedding: Codable, Sendable, Hashable {
        /// `embedding`.
        public var object: String?
        /// The input's position.
        public var index: Int
        /// The vector.
        public var embedding: [Double]
        /// Token usage of this input.
        public var usage: Usage?

        /// Creates an embedding.
        public init(index: Int, embedding: [Double], usage: Usage? = nil) {
            self.object = "embedding"
            self.index = index
            self.embedding = embedding
            self.usage = usage
        }
    }

    /// Token usage of one input.
    public struct Usage: Codable, Sendable, Hashable {
        /// Tokens of the input.
        public var promptTokens: Int

        /// Creates a usage record.
        public init(promptTokens: Int) { self.promptTokens = promptTokens }

        private enum CodingKeys: String, CodingKey {
            case promptTokens = "prompt_tokens"
        }
    }

    /// `list`.
    public var object: String?
    /// The model used.
    public var model: String?
    /// One vector per input, in input order.
    public var data: [Embedding]

    /// Creates a response.
    public init(model: String?, data: [Embedding]) {
        self.object = "list"
        self.model = model
        self.data = data
    }
}
