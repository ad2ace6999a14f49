import Foundation

/// A JSON Schema of a `response_format`, checked locally: GigaChat documents structured output as best-effort
/// (`strict` is a request, not a guarantee), so the answer is validated before anyone relies on it.
///
/// The subset checked is what GigaChat's structured-output and function-calling docs use and what pydantic's
/// `model_json_schema()` writes:
/// `type` (a name or a list; `integer` is a whole number), `enum`, `const`, `properties`, `required`,
/// `patternProperties`, `additionalProperties` (`false` or a schema), `minProperties`, `maxProperties`, `items`,
/// `prefixItems`, `minItems`, `maxItems`, `uniqueItems`, `minLength`, `maxLength` (in Unicode code points), `pattern`
/// (searched, as JSON Schema says), `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers, or draft
/// 4's booleans), `multipleOf`, `anyOf`, `oneOf`, `allOf`, `not`, and `$ref` to `#`, `#/$defs/…` or
/// `#/definitions/…` (a reference that loops back without descending into a member or item checks nothing more).
/// Annotations (`title`, `description`, `default`, `examples`) and `format` are not checked; a `$ref` elsewhere or
/// an invalid `pattern` is refused up front. One check takes at most ``stepBudget`` steps.
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
        guard depth < 256 else { throw Invalid(message: "\(path): the schema nests deeper than 256 levels") }
        guard case .object(let members) = schema else { return }
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
            case "patternProperties":
                if case .object(let named) = child {
                    for (pattern, sub) in named.sorted(by: { $0.key < $1.key }) {
                        if patterns[pattern] == nil {
                            guard let compiled = try? NSRegularExpression(pattern: pattern) else {
                                throw Invalid(
                                    message:
                                        "\(path)/patternProperties \"\(pattern)\" is not a valid regular expression"
                                )
                            }
                            patterns[pattern] = NSRegularExpressionBox(compiled)
                        }
                        try prepare(
                            sub,
                            root: root,
                            path: "\(path)/\(key)/\(pattern)",
                            patterns: &patterns,
                            depth: depth + 1
                        )
                    }
                }
            case "properties", "$defs", "definitions":
                if case .object(let named) = child {
                    for (name, sub) in named.sorted(by: { $0.key < $1.key }) {
                        try prepare(
                            sub,
                            root: root,
                            path: "\(path)/\(key)/\(name)",
                            patterns: &patterns,
                            depth: depth + 1
                        )
                    }
                }
            case "anyOf", "oneOf", "allOf", "prefixItems":
                if case .array(let list) = child {
                    for (index, sub) in list.enumerated() {
                        try prepare(
                            sub,
                            root: root,
                            path: "\(path)/\(key)/\(index)",
                            patterns: &patterns,
                            depth: depth + 1
                        )
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

    /// The most schema steps one check may take: a schema whose branches multiply (`anyOf` of `anyOf`s) cannot hold a
    /// thread for long; past it the answer is reported as not checkable.
    static let stepBudget = 200_000

    private static func tooLong(_ path: String) -> String { "\(path): the schema takes too long to check" }

    /// Where a check is: the steps taken, and the `$ref`s followed at the current instance since the last descent
    /// into a member or item (following one of them again there is a loop that checks nothing new).
    private struct Walk {
        var steps = 0
        var references: Set<String> = []
        /// Members and items descended into (the value's depth).
        var depth = 0
    }

    /// The deepest value checked (the parser allows 512 levels; a schema of that depth is not a real one).
    static let maximumDepth = 128

    /// The first way `instance` breaks the schema, as `<path>: <what>` (`$` is the whole value), or `nil` when it
    /// satisfies it.
    public func firstViolation(in instance: JSONValue) -> String? {
        var walk = Walk()
        return check(instance, against: value, path: "$", walk: &walk)
    }

    private func check(_ instance: JSONValue, against schema: JSONValue, path: String, walk: inout Walk) -> String? {
        walk.steps += 1
        guard walk.steps <= Self.stepBudget else { return Self.tooLong(path) }
        guard walk.depth <= Self.maximumDepth else {
            return "\(path): the value nests deeper than \(Self.maximumDepth) levels"
        }
        guard case .object(let rules) = schema else {
            if case .bool(false) = schema { return "\(path): no value is allowed here" }
            return nil
        }
        if case .string(let reference)? = rules["$ref"], let target = Self.resolve(reference, in: value),
            walk.references.insert(reference).inserted
        {
            if let violation = check(instance, against: target, path: path, walk: &walk) { return violation }
        }
        if let types = rules["type"], let violation = Self.checkType(instance, types, path: path) { return violation }
        if case .array(let allowed)? = rules["enum"], !allowed.contains(instance) {
            return "\(path): \(Self.brief(instance)) is not one of \(Self.brief(.array(allowed)))"
        }
        if let constant = rules["const"], constant != instance {
            return "\(path): \(Self.brief(instance)) is not \(Self.brief(constant))"
        }
        switch instance {
        case .object(let members):
            if let violation = checkObject(members, rules, path: path, walk: &walk) { return violation }
        case .array(let items):
            if let violation = checkArray(items, rules, path: path, walk: &walk) { return violation }
        case .string(let text):
            if let violation = checkString(text, rules, path: path) { return violation }
        case .number(let number):
            if let violation = Self.checkNumber(number, rules, path: path) { return violation }
        default:
            break
        }
        if case .array(let branches)? = rules["allOf"] {
            for branch in branches {
                if let violation = check(instance, against: branch, path: path, walk: &walk) { return violation }
            }
        }
        if case .array(let branches)? = rules["anyOf"] {
            var first: String?
            for branch in branches {
                var trial = walk
                let violation = check(instance, against: branch, path: path, walk: &trial)
                walk.steps = trial.steps
                if walk.steps > Self.stepBudget { return Self.tooLong(path) }
                guard let violation else {
                    first = nil
                    break
                }
                if first == nil { first = violation }
            }
            if let first { return "\(path): matches none of anyOf (the first: \(first))" }
        }
        if case .array(let branches)? = rules["oneOf"] {
            var matching: [Int] = []
            var first: String?
            for (index, branch) in branches.enumerated() {
                var trial = walk
                let violation = check(instance, against: branch, path: path, walk: &trial)
                walk.steps = trial.steps
                if walk.steps > Self.stepBudget { return Self.tooLong(path) }
                if let violation { first = first ?? violation } else { matching.append(index) }
            }
            if matching.isEmpty { return "\(path): matches none of oneOf (the first: \(first ?? "-"))" }
            if matching.count > 1 {
                return
                    "\(path): matches oneOf's schemas \(matching.map(String.init).joined(separator: " and ")), not exactly one"
            }
        }
        if let excluded = rules["not"] {
            var trial = walk
            let violation = check(instance, against: excluded, path: path, walk: &trial)
            walk.steps = trial.steps
            if walk.steps > Self.stepBudget { return Self.tooLong(path) }
            if violation == nil { return "\(path): matches the schema under not" }
        }
        return nil
    }

    private func checkString(_ text: String, _ rules: [String: JSONValue], path: String) -> String? {
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
                return "\(path): \(Self.brief(.string(text))) does not match the pattern \(pattern)"
            }
        }
        return nil
    }

    /// Bounds, in the current form (`exclusiveMinimum` a number) and draft 4's (`exclusiveMinimum: true` making
    /// `minimum` exclusive).
    private static func checkNumber(_ number: Double, _ rules: [String: JSONValue], path: String) -> String? {
        let shown = brief(.number(number))
        if case .number(let least)? = rules["minimum"] {
            if case .bool(true)? = rules["exclusiveMinimum"], number <= least {
                return "\(path): \(shown) is not above the exclusive minimum \(brief(.number(least)))"
            }
            if number < least { return "\(path): \(shown) is below the minimum \(brief(.number(least)))" }
        }
        if case .number(let most)? = rules["maximum"] {
            if case .bool(true)? = rules["exclusiveMaximum"], number >= most {
                return "\(path): \(shown) is not below the exclusive maximum \(brief(.number(most)))"
            }
            if number > most { return "\(path): \(shown) is above the maximum \(brief(.number(most)))" }
        }
        if case .number(let above)? = rules["exclusiveMinimum"], number <= above {
            return "\(path): \(shown) is not above the exclusive minimum \(brief(.number(above)))"
        }
        if case .number(let below)? = rules["exclusiveMaximum"], number >= below {
            return "\(path): \(shown) is not below the exclusive maximum \(brief(.number(below)))"
        }
        if case .number(let step)? = rules["multipleOf"], step > 0 {
            let quotient = number / step
            if abs(quotient - quotient.rounded()) > 1e-9 * max(1, abs(quotient)) {
                return "\(path): \(shown) is not a multiple of \(brief(.number(step)))"
            }
        }
        return nil
    }

    private func checkObject(
        _ members: [String: JSONValue],
        _ rules: [String: JSONValue],
        path: String,
        walk: inout Walk
    )
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
        let patterned = (rules["patternProperties"]?.objectValue ?? [:]).sorted { $0.key < $1.key }
        for (name, member) in members.sorted(by: { $0.key < $1.key }) {
            let memberPath = "\(path).\(name)"
            var descended = Walk(steps: walk.steps, depth: walk.depth + 1)
            defer { walk.steps = descended.steps }
            var matched = false
            if let schema = properties[name] {
                matched = true
                if let violation = check(member, against: schema, path: memberPath, walk: &descended) {
                    return violation
                }
            }
            let range = NSRange(name.startIndex..<name.endIndex, in: name)
            for (pattern, schema) in patterned {
                guard let regex = patterns[pattern]?.regex, regex.firstMatch(in: name, range: range) != nil else {
                    continue
                }
                matched = true
                if let violation = check(member, against: schema, path: memberPath, walk: &descended) {
                    return violation
                }
            }
            if !matched, let extra = rules["additionalProperties"] {
                if case .bool(false) = extra { return "\(path): the property \"\(name)\" is not allowed" }
                if let violation = check(member, against: extra, path: memberPath, walk: &descended) {
                    return violation
                }
            }
        }
        return nil
    }

    private func checkArray(_ items: [JSONValue], _ rules: [String: JSONValue], path: String, walk: inout Walk)
        -> String?
    {
        if let least = rules["minItems"]?.intValue, items.count < least {
            return "\(path): \(items.count) items, fewer than minItems \(least)"
        }
        if let most = rules["maxItems"]?.intValue, items.count > most {
            return "\(path): \(items.count) items, more than maxItems \(most)"
        }
        if case .bool(true)? = rules["uniqueItems"] {
            var seen = Set<JSONValue>()
            for (index, item) in items.enumerated() where !seen.insert(item).inserted {
                return "\(path)[\(index)]: repeats an earlier item (uniqueItems)"
            }
        }
        let prefix = rules["prefixItems"]?.arrayValue ?? []
        for (index, item) in items.enumerated() {
            guard let schema = index < prefix.count ? prefix[index] : rules["items"] else { continue }
            var descended = Walk(steps: walk.steps, depth: walk.depth + 1)
            let violation = check(item, against: schema, path: "\(path)[\(index)]", walk: &descended)
            walk.steps = descended.steps
            if let violation { return violation }
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
        case .number(let number):
            return number.rounded() == number ? "the integer \(brief(value))" : "the number \(brief(value))"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }

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
