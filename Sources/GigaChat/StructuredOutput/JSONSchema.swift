import Foundation

/// A JSON Schema of a `response_format`, checked locally: GigaChat documents structured output as best-effort
/// (`strict` is a request, not a guarantee), so the answer is validated before anyone relies on it.
///
/// The subset checked is what GigaChat's structured-output and function-calling docs use and what pydantic's
/// `model_json_schema()` writes:
/// `type` (a name or a list; `integer` is a whole number), `enum`, `const`, `properties`, `required`,
/// `additionalProperties` (`false` or a schema), `minProperties`, `maxProperties`, `items`, `minItems`, `maxItems`,
/// `uniqueItems`, `minLength`, `maxLength` (in Unicode code points), `pattern` (searched, as JSON Schema says),
/// `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`, `multipleOf`, `anyOf`, `oneOf`, `allOf`, `not`,
/// and `$ref` to `#`, `#/$defs/…` or `#/definitions/…`. Annotations (`title`, `description`, `default`,
/// `examples`) and `format` are not checked; a `$ref` elsewhere or an invalid `pattern` is refused up front.
public struct JSONSchema: Sendable, Hashable {
    /// The schema as given.
    public let value: JSONValue
    private let patterns: [String: NSRegularExpressionBox]

    /// A schema that cannot be used: it is not an object, a `$ref` points outside it, or a `pattern` does not compile.
    public struct Invalid: Error, Sendable, Hashable, CustomStringConvertible {
        /// What is wrong, with the schema path.
        public var message: String
        public var description: String { message }
    }

    /// Checks and prepares a schema.
    /// - Throws: ``Invalid``.
    public init(_ value: JSONValue) throws(Invalid) {
        guard case .object = value else { throw Invalid(message: "the schema must be a JSON object") }
        var patterns: [String: NSRegularExpressionBox] = [:]
        try Self.prepare(value, root: value, path: "#", patterns: &patterns, depth: 0)
        self.value = value
        self.patterns = patterns
    }

    private static func prepare(
        _ schema: JSONValue,
        root: JSONValue,
        path: String,
        patterns: inout [String: NSRegularExpressionBox],
        depth: Int
    ) throws(Invalid) {
        guard depth < 64, case .object(let members) = schema else { return }
        if case .string(let reference)? = members["$ref"], resolve(reference, in: root) == nil {
            throw Invalid(message: "\(path)/$ref \"\(reference)\" does not point into this schema (#, #/$defs/…)")
        }
        if case .string(let pattern)? = members["pattern"], patterns[pattern] == nil {
            guard let compiled = try? NSRegularExpression(pattern: pattern) else {
                throw Invalid(message: "\(path)/pattern \"\(pattern)\" is not a valid regular expression")
            }
            patterns[pattern] = NSRegularExpressionBox(compiled)
        }
        for (key, child) in members.sorted(by: { $0.key < $1.key }) {
            switch key {
            case "properties", "$defs", "definitions", "patternProperties":
                if case .object(let named) = child {
                    for (name, sub) in named.sorted(by: { $0.key < $1.key }) {
                        try prepare(sub, root: root, path: "\(path)/\(key)/\(name)", patterns: &patterns, depth: depth + 1)
                    }
                }
            case "anyOf", "oneOf", "allOf", "prefixItems":
                if case .array(let list) = child {
                    for (index, sub) in list.enumerated() {
                        try prepare(sub, root: root, path: "\(path)/\(key)/\(index)", patterns: &patterns, depth: depth + 1)
                    }
                }
            case "items", "additionalProperties", "not":
                try prepare(child, root: root, path: "\(path)/\(key)", patterns: &patterns, depth: depth + 1)
            default:
                continue
            }
        }
    }

    static func resolve(_ reference: String, in root: JSONValue) -> JSONValue? {
        if reference == "#" { return root }
        for container in ["$defs", "definitions"] {
            let prefix = "#/\(container)/"
            guard reference.hasPrefix(prefix) else { continue }
            let name = String(reference.dropFirst(prefix.count)).replacingOccurrences(of: "~1", with: "/")
                .replacingOccurrences(of: "~0", with: "~")
            if case .object(let definitions)? = root.objectValue?[container], let target = definitions[name] {
                return target
            }
        }
        return nil
    }

    /// The first way `instance` breaks the schema, as `<path>: <what>` (`$` is the whole value), or `nil` when it
    /// satisfies it.
    public func firstViolation(in instance: JSONValue) -> String? {
        check(instance, against: value, path: "$", depth: 0)
    }

    // swiftlint:disable:next cyclomatic_complexity
    private func check(_ instance: JSONValue, against schema: JSONValue, path: String, depth: Int) -> String? {
        guard depth < 64 else { return "\(path): the schema nests too deeply" }
        guard case .object(let rules) = schema else {
            if case .bool(false) = schema { return "\(path): no value is allowed here" }
            return nil
        }
        if case .string(let reference)? = rules["$ref"], let target = Self.resolve(reference, in: value) {
            if let violation = check(instance, against: target, path: path, depth: depth + 1) { return violation }
        }
        if let types = rules["type"], let violation = Self.checkType(instance, types, path: path) { return violation }
        if case .array(let allowed)? = rules["enum"], !allowed.contains(where: { Self.same($0, instance) }) {
            return "\(path): \(Self.brief(instance)) is not one of \(Self.brief(.array(allowed)))"
        }
        if let constant = rules["const"], !Self.same(constant, instance) {
            return "\(path): \(Self.brief(instance)) is not \(Self.brief(constant))"
        }
        switch instance {
        case .object(let members):
            if let violation = checkObject(members, rules, path: path, depth: depth) { return violation }
        case .array(let items):
            if let violation = checkArray(items, rules, path: path, depth: depth) { return violation }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let least = rules["minLength"]?.intValue, length < least {
                return "\(path): the string has \(length) characters, fewer than minLength \(least)"
            }
            if let most = rules["maxLength"]?.intValue, length > most {
                return "\(path): the string has \(length) characters, more than maxLength \(most)"
            }
            if case .string(let pattern)? = rules["pattern"], let regex = patterns[pattern]?.regex {
                let range = NSRange(text.startIndex..<text.endIndex, in: text)
                if regex.firstMatch(in: text, range: range) == nil {
                    return "\(path): \(Self.brief(instance)) does not match the pattern \(pattern)"
                }
            }
        case .number(let number):
            if case .number(let least)? = rules["minimum"], number < least {
                return "\(path): \(Self.brief(instance)) is below the minimum \(Self.brief(.number(least)))"
            }
            if case .number(let most)? = rules["maximum"], number > most {
                return "\(path): \(Self.brief(instance)) is above the maximum \(Self.brief(.number(most)))"
            }
            if case .number(let above)? = rules["exclusiveMinimum"], number <= above {
                return "\(path): \(Self.brief(instance)) is not above the exclusive minimum \(Self.brief(.number(above)))"
            }
            if case .number(let below)? = rules["exclusiveMaximum"], number >= below {
                return "\(path): \(Self.brief(instance)) is not below the exclusive maximum \(Self.brief(.number(below)))"
            }
            if case .number(let step)? = rules["multipleOf"], step > 0 {
                let quotient = number / step
                if abs(quotient - quotient.rounded()) > 1e-9 * max(1, abs(quotient)) {
                    return "\(path): \(Self.brief(instance)) is not a multiple of \(Self.brief(.number(step)))"
                }
            }
        default:
            break
        }
        if case .array(let branches)? = rules["allOf"] {
            for branch in branches {
                if let violation = check(instance, against: branch, path: path, depth: depth + 1) { return violation }
            }
        }
        if case .array(let branches)? = rules["anyOf"] {
            var first: String?
            for branch in branches {
                guard let violation = check(instance, against: branch, path: path, depth: depth + 1) else {
                    first = nil
                    break
                }
                if first == nil { first = violation }
            }
            if let first { return "\(path): matches none of anyOf (first: \(first))" }
        }
        if case .array(let branches)? = rules["oneOf"] {
            let matching = branches.filter { check(instance, against: $0, path: path, depth: depth + 1) == nil }.count
            if matching != 1 { return "\(path): matches \(matching) of oneOf's schemas, not exactly one" }
        }
        if let excluded = rules["not"], check(instance, against: excluded, path: path, depth: depth + 1) == nil {
            return "\(path): matches the schema under not"
        }
        return nil
    }

    private func checkObject(_ members: [String: JSONValue], _ rules: [String: JSONValue], path: String, depth: Int)
        -> String?
    {
        if case .array(let required)? = rules["required"] {
            for case .string(let name) in required where members[name] == nil {
                return "\(path): the required property \"\(name)\" is missing"
            }
        }
        if let least = rules["minProperties"]?.intValue, members.count < least {
            return "\(path): \(members.count) properties, fewer than minProperties \(least)"
        }
        if let most = rules["maxProperties"]?.intValue, members.count > most {
            return "\(path): \(members.count) properties, more than maxProperties \(most)"
        }
        let properties = rules["properties"]?.objectValue ?? [:]
        for (name, member) in members.sorted(by: { $0.key < $1.key }) {
            let memberPath = "\(path).\(name)"
            if let schema = properties[name] {
                if let violation = check(member, against: schema, path: memberPath, depth: depth + 1) {
                    return violation
                }
            } else if let extra = rules["additionalProperties"] {
                if case .bool(false) = extra { return "\(path): the property \"\(name)\" is not allowed" }
                if let violation = check(member, against: extra, path: memberPath, depth: depth + 1) {
                    return violation
                }
            }
        }
        return nil
    }

    private func checkArray(_ items: [JSONValue], _ rules: [String: JSONValue], path: String, depth: Int) -> String? {
        if let least = rules["minItems"]?.intValue, items.count < least {
            return "\(path): \(items.count) items, fewer than minItems \(least)"
        }
        if let most = rules["maxItems"]?.intValue, items.count > most {
            return "\(path): \(items.count) items, more than maxItems \(most)"
        }
        if case .bool(true)? = rules["uniqueItems"] {
            for (index, item) in items.enumerated() where items[..<index].contains(where: { Self.same($0, item) }) {
                return "\(path)[\(index)]: repeats an earlier item (uniqueItems)"
            }
        }
        if let schema = rules["items"] {
            for (index, item) in items.enumerated() {
                if let violation = check(item, against: schema, path: "\(path)[\(index)]", depth: depth + 1) {
                    return violation
                }
            }
        }
        return nil
    }

    private static func checkType(_ instance: JSONValue, _ types: JSONValue, path: String) -> String? {
        var names: [String] = []
        switch types {
        case .string(let name): names = [name]
        case .array(let list): names = list.compactMap(\.stringValue)
        default: return nil
        }
        let matches = names.contains { name in
            switch (name, instance) {
            case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null):
                return true
            case ("number", .number): return true
            case ("integer", .number(let number)): return number.rounded() == number && number.isFinite
            default: return false
            }
        }
        guard !matches else { return nil }
        return "\(path): expected \(names.joined(separator: " or ")), got \(kind(of: instance))"
    }

    private static func kind(of value: JSONValue) -> String {
        switch value {
        case .null: return "null"
        case .bool: return "a boolean"
        case .number(let number): return number.rounded() == number ? "the integer \(brief(value))" : "the number \(brief(value))"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

    /// JSON equality as JSON Schema means it (numbers by value, which `JSONValue` already holds as `Double`).
    private static func same(_ a: JSONValue, _ b: JSONValue) -> Bool { a == b }

    /// A value as JSON, cut to 60 characters, for messages.
    static func brief(_ value: JSONValue) -> String {
        var json = JSONWriter(capacity: 64)
        json.value(value)
        let text = String(decoding: json.bytes, as: UTF8.self)
        return text.count > 60 ? String(text.prefix(57)) + "..." : text
    }
}

/// `NSRegularExpression` is not `Sendable` in corelibs-foundation's annotations, though it is immutable and
/// thread-safe once made; this box says so, and compares by pattern.
struct NSRegularExpressionBox: @unchecked Sendable, Hashable {
    let regex: NSRegularExpression

    init(_ regex: NSRegularExpression) { self.regex = regex }

    static func == (lhs: Self, rhs: Self) -> Bool { lhs.regex.pattern == rhs.regex.pattern }
    func hash(into hasher: inout Hasher) { hasher.combine(regex.pattern) }
}
