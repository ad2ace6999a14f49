/// A model as listed by `GET /models`.
public struct GigaChatModel: Codable, Sendable, Hashable {
    /// The model id (`GigaChat-2-Max`, `Embeddings`, ...).
    public var id: String
    /// `model`.
    public var object: String?
    /// The owner (`salutedevices`).
    public var ownedBy: String?
    /// `chat`, `embedder`, `aicheck`, `filter`, ...
    public var type: String?

    /// Creates a model description.
    public init(id: String, object: String? = "model", ownedBy: String? = nil, type: String? = nil) {
        self.id = id
        self.object = object
        self.ownedBy = ownedBy
        self.type = type
    }

    private enum CodingKeys: String, CodingKey {
        case id, object, type
        case ownedBy = "owned_by"
    }
}
