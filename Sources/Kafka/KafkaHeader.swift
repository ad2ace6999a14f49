/// One record header: a string key with an optional byte value (Kafka allows a null value).
public struct KafkaHeader: Sendable, Hashable {
    /// The header name.
    public var key: String
    /// The header value; `nil` is a null value, distinct from an empty one.
    public var value: [UInt8]?

    /// Creates a header.
    /// - Parameters:
    ///   - key: The header name.
    ///   - value: The value bytes, or `nil` for a null value.
    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }
}
