/// Reads the members of a JSON object with the types the API models expect: the fast path that stands in for
/// `Codable` on the shapes read on every call. A missing or `null` optional member reads as `nil`; a member of
/// the wrong type throws, naming its path.
struct JSONFields {
    /// A member had the wrong type (or the value was not an object).
    struct TypeError: Error, Sendable, Equatable, CustomStringConvertible {
        var path: String
        var expected: String
        var description: String { "\(path.isEmpty ? "the value" : path): expected \(expected)" }
    }

    let members: [String: JSONValue]
    let path: String

    init(_ value: JSONValue, path: String = "") throws(TypeError) {
        guard case .object(let members) = value else { throw TypeError(path: path, expected: "an object") }
        self.members = members
        self.path = path
    }

    private func at(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    /// The raw member, `nil` when missing or `null`.
    func value(_ key: String) -> JSONValue? {
        guard let value = members[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(TypeError) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw TypeError(path: at(key), expected: "a string") }
        return text
    }

    func requiredString(_ key: String) throws(TypeError) -> String {
        guard let text = try string(key) else { throw TypeError(path: at(key), expected: "a string") }
        return text
    }

    func int(_ key: String) throws(TypeError) -> Int? {
        guard let value = value(key) else { return nil }
        guard let number = value.intValue else { throw TypeError(path: at(key), expected: "a whole number") }
        return number
    }

    func bool(_ key: String) throws(TypeError) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw TypeError(path: at(key), expected: "true or false") }
        return flag
    }

    func object(_ key: String) throws(TypeError) -> JSONFields? {
        guard let value = value(key) else { return nil }
        return try JSONFields(value, path: at(key))
    }

    func array(_ key: String) throws(TypeError) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw TypeError(path: at(key), expected: "an array") }
        return items
    }

    /// The elements of an array member as objects.
    func objects(_ key: String) throws(TypeError) -> [JSONFields]? {
        guard let items = try array(key) else { return nil }
        var result: [JSONFields] = []
        result.reserveCapacity(items.count)
        for (index, item) in items.enumerated() { result.append(try JSONFields(item, path: "\(at(key))[\(index)]")) }
        return result
    }
}
