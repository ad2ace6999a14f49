/// A type the client decodes with ``JSONValue/init(parsing:)`` instead of `JSONDecoder`.
protocol FastJSONDecodable {
    /// Decodes the JSON in `bytes` (read in place: the answer's body is not copied).
    init(json bytes: UnsafeRawBufferPointer) throws
}
