/// One line of `GET /balance`: the remaining tokens of a prepaid package.
public struct BalanceEntry: Codable, Sendable, Hashable {
    /// What the package is for (`GigaChat`, `embeddings`, a model name).
    public var usage: String
    /// Remaining tokens.
    public var value: Double

    /// Creates an entry.
    public init(usage: String, value: Double) {
        self.usage = usage
        self.value = value
    }
}
