/// A type the client decodes with ``JSONValue/init(parsing:)`` instead of `JSONDecoder`.
protocol FastJSONDecodable {
    init(json bytes: [UInt8]) throws
}
