import Foundation
import NIOCore

// MARK: - GigaChatEmulator + structured answers

extension GigaChatEmulator {
    /// The answer to a request with `response_format` `json_schema`: a JSON value that satisfies the schema (when
    /// the schema can be satisfied: contradictory bounds give a value that breaks them), so a test can predict it
    /// and a validator accepts it.
    ///
    /// The value is built from the schema: `const`, else the first `enum` value, else by `type` (the first non-null
    /// one of a list): an object has every property, in the schema's order; a string is the prompt's first word
    /// (`"emulator"` when there is none), padded with `x` to `minLength` and cut to `maxLength`; a number or integer is
    /// `minimum` (or `exclusiveMinimum` + 1), else 0 raised to it, capped at `maximum`; a boolean is `true`; an array
    /// has `max(minItems, 1)` items (at most `maxItems`); `$ref` to `#/$defs/...` or `#/definitions/...` is followed,
    /// `anyOf`/`oneOf` take their first branch and `allOf` its first. A schema without a type gives `null`.
    /// - Parameters:
    ///   - schemaJSON: The JSON Schema of `response_format.schema`, as JSON text.
    ///   - prompt: The last user message.
    /// - Returns: The JSON text, or `nil` when `schemaJSON` is not JSON.
    public static func structuredAnswer(schemaJSON: String, prompt: String) -> String? {
        var buffer = ByteBufferAllocator().buffer(capacity: schemaJSON.utf8.count)
        buffer.writeString(schemaJSON)
        guard let schema = try? EmulatorJSON.parse(buffer) else { return nil }
        return structuredAnswer(schema: schema, prompt: prompt)
    }

    static func structuredAnswer(schema: EmulatorJSON, prompt: String) -> String {
        let word = words(of: prompt).first.map(String.init) ?? "emulator"
        var text = ""
        write(instance(of: schema, root: schema, word: word, depth: 0), into: &text)
        return text
    }

    /// Whether a structured-output prompt's first attempt gets text that is not JSON under
    /// ``GigaChatEmulatorFaults/invalidStructuredRate``: the prompt's stable hash, as a fraction of 2^64, is below
    /// the rate (so about that fraction of distinct prompts are chosen).
    public static func answersInvalidJSON(to prompt: String, rate: Double) -> Bool {
        guard rate > 0 else { return false }
        // FNV-1a, then SplitMix64's finaliser: prompts that differ in their last character land far apart.
        var mixed = stableHash(prompt)
        mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
        mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
        mixed ^= mixed >> 31
        return Double(mixed) / 18_446_744_073_709_551_616.0 < rate
    }

    /// JSON with a space after each `:` and `,`, as models write it (so the emulator's word count, its tokens, grows
    /// with the value and `max_tokens` can cut it).
    private static func write(_ value: EmulatorJSON, into text: inout String) {
        switch value {
        case .array(let items):
            text += "["
            for (index, item) in items.enumerated() {
                if index > 0 { text += ", " }
                write(item, into: &text)
            }
            text += "]"
        case .object(let members):
            text += "{"
            for (index, (name, member)) in members.enumerated() {
                if index > 0 { text += ", " }
                write(.string(name), into: &text)
                text += ": "
                write(member, into: &text)
            }
            text += "}"
        default:
            var buffer = ByteBufferAllocator().buffer(capacity: 32)
            value.write(into: &buffer)
            text += String(buffer: buffer)
        }
    }

    /// A value for `schema`; `variant` makes the items of a `uniqueItems` array differ, `nested` counts the arrays
    /// entered (inside one, optional lists stay empty so recursive models end).
    private static func instance(
        of schema: EmulatorJSON,
        root: EmulatorJSON,
        word: String,
        depth: Int,
        variant: Int = 0,
        nested: Int = 0
    ) -> EmulatorJSON {
        guard depth < 24 else { return .null }
        func sub(_ schema: EmulatorJSON, variant: Int = variant, nested: Int = nested) -> EmulatorJSON {
            instance(of: schema, root: root, word: word, depth: depth + 1, variant: variant, nested: nested)
        }
        if let reference = schema["$ref"]?.stringValue {
            if reference == "#" { return sub(root) }
            for container in ["$defs", "definitions"] where reference.hasPrefix("#/\(container)/") {
                let name = String(reference.dropFirst(container.count + 3)).replacingOccurrences(of: "~1", with: "/")
                    .replacingOccurrences(of: "~0", with: "~")
                if let target = root[container]?[name] { return sub(target) }
            }
            return .null
        }
        if let constant = schema["const"] { return constant }
        if let values = schema["enum"]?.arrayValue, !values.isEmpty { return values[variant % values.count] }
        if let branches = schema["allOf"]?.arrayValue, !branches.isEmpty {
            // The branches' object values merged (pydantic writes allOf around a single $ref; mixins add members).
            var merged: [(String, EmulatorJSON)] = []
            for branch in branches {
                switch sub(branch) {
                case .object(let members):
                    for member in members where !merged.contains(where: { $0.0 == member.0 }) { merged.append(member) }
                case let other where branches.count == 1:
                    return other
                default:
                    continue
                }
            }
            return .object(merged)
        }
        for combinator in ["anyOf", "oneOf"] {
            if let branches = schema[combinator]?.arrayValue, !branches.isEmpty {
                // The first branch that is not null (a pydantic Optional[X] is anyOf [X, null]).
                let chosen = branches.first { $0["type"]?.stringValue != "null" } ?? branches[0]
                return sub(chosen)
            }
        }
        var type = schema["type"]?.stringValue
        if type == nil { type = schema["type"]?.arrayValue?.compactMap(\.stringValue).first { $0 != "null" } }
        if type == nil, schema["properties"] != nil { type = "object" }
        switch type {
        case "object":
            let properties = schema["properties"]?.objectValue ?? []
            let required = Set(schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            var members: [(String, EmulatorJSON)] = []
            for (name, property) in properties {
                // Inside a list, optional members are left out: a recursive model ends.
                if nested > 0, !required.contains(name) { continue }
                members.append((name, sub(property)))
            }
            // A required name the schema does not describe: any value will do.
            for name in schema["required"]?.arrayValue?.compactMap(\.stringValue) ?? []
            where !members.contains(where: { $0.0 == name }) {
                members.append((name, .string(word)))
            }
            return .object(members)
        case "array":
            let prefix = schema["prefixItems"]?.arrayValue ?? []
            var values = prefix.map { sub($0, nested: nested + 1) }
            let least = schema["minItems"]?.intValue ?? 0
            var count = max(least, nested == 0 && prefix.isEmpty ? 1 : 0)
            if let most = schema["maxItems"]?.intValue { count = min(count, most) }
            if let items = schema["items"], items.objectValue != nil {
                let unique = schema["uniqueItems"]?.boolValue == true
                while values.count < count {
                    values.append(sub(items, variant: unique ? values.count : 0, nested: nested + 1))
                }
            }
            return .array(values)
        case "string":
            return .string(sampleString(schema, word: word, variant: variant))
        case "integer", "number":
            return .number(sampleNumber(schema, integer: type == "integer", variant: variant))
        case "boolean":
            return .bool(variant % 2 == 0)
        default:
            return .null
        }
    }

    /// A string for a string schema: a sample of its `format`, else the prompt's word (numbered for a
    /// `uniqueItems` variant), padded with `x` to `minLength` and cut to `maxLength` (in code points).
    private static func sampleString(_ schema: EmulatorJSON, word: String, variant: Int) -> String {
        switch schema["format"]?.stringValue {
        case "date": return "2026-12-0\(1 + variant % 9)"
        case "date-time": return "2026-12-0\(1 + variant % 9)T12:00:00Z"
        case "time": return "12:00:0\(variant % 10)"
        case "uuid": return stableUUID("\(word)\(variant)")
        case "email": return "user\(variant)@example.com"
        case "uri", "url": return "https://example.com/\(variant)"
        default: break
        }
        if let pattern = schema["pattern"]?.stringValue, let sample = regexSample(pattern),
            sample.unicodeScalars.count >= schema["minLength"]?.intValue ?? 0,
            sample.unicodeScalars.count <= schema["maxLength"]?.intValue ?? .max
        {
            return sample
        }
        var scalars = Array((variant == 0 ? word : "\(word)\(variant)").unicodeScalars)
        if let least = schema["minLength"]?.intValue, scalars.count < least {
            scalars += Array(repeating: "x", count: least - scalars.count)
        }
        if let most = schema["maxLength"]?.intValue, scalars.count > most { scalars = Array(scalars.prefix(most)) }
        var text = ""
        text.unicodeScalars.append(contentsOf: scalars)
        return text
    }

    /// A number inside the schema's bounds: the inclusive `minimum`, else a step above an exclusive one, else 0 (plus
    /// the variant), moved to the middle of the range when that leaves it, and to a `multipleOf` inside the range.
    private static func sampleNumber(_ schema: EmulatorJSON, integer: Bool, variant: Int) -> Double {
        let step = schema["multipleOf"]?.numberValue.flatMap { $0 > 0 ? $0 : nil } ?? (integer ? 1 : 0)
        var low = -Double.infinity
        var lowOpen = false
        var high = Double.infinity
        var highOpen = false
        if let value = schema["minimum"]?.numberValue { low = value }
        if let value = schema["exclusiveMinimum"]?.numberValue, value >= low {
            low = value
            lowOpen = true
        }
        if let value = schema["maximum"]?.numberValue { high = value }
        if let value = schema["exclusiveMaximum"]?.numberValue, value <= high {
            high = value
            highOpen = true
        }
        func inside(_ number: Double) -> Bool {
            (lowOpen ? number > low : number >= low) && (highOpen ? number < high : number <= high)
        }
        var candidate = low.isFinite ? (lowOpen ? low + max(step, integer ? 1 : 1) : low) : 0
        candidate += Double(variant) * max(step, 1)
        if !inside(candidate), low.isFinite, high.isFinite { candidate = (low + high) / 2 }
        if !inside(candidate), high.isFinite { candidate = highOpen ? high - max(step, 1) : high }
        if step > 0 {
            let snapped = (candidate / step).rounded(.up) * step
            if inside(snapped) {
                candidate = snapped
            } else if inside((candidate / step).rounded(.down) * step) {
                candidate = (candidate / step).rounded(.down) * step
            }
        }
        return candidate
    }
}

// MARK: - Answers to a regex response format

extension GigaChatEmulator {
    /// The answer to a request with `response_format` `regex` (v2): a short text the expression matches, built from
    /// its literals, escapes (`\d` → `0`, `\w` → `a`, `\s` → space, `\n`, `\t`, `\xHH`, `\uHHHH`, escaped
    /// punctuation), classes (their first member; for a negated class the first of a few candidates outside it), `.`
    /// (`x`), groups and alternations (the first alternative), and quantifiers (the least count they allow, at most
    /// 1,000); anchors are dropped. The text is then checked against the whole expression.
    /// - Returns: The text, or `nil` for a construct it does not know (lookarounds, backreferences) or a text that
    ///   does not match after all.
    public static func regexSample(_ pattern: String) -> String? {
        var parser = RegexSampler(Array(pattern.unicodeScalars))
        guard let text = parser.alternation(), parser.atEnd,
            let regex = try? NSRegularExpression(pattern: "^(?:\(pattern))\\z"),
            regex.firstMatch(in: text, range: NSRange(text.startIndex..<text.endIndex, in: text)) != nil
        else { return nil }
        return text
    }
}

/// A recursive-descent walk over a regular expression that builds one string it matches.
private struct RegexSampler {
    let scalars: [Unicode.Scalar]
    var index = 0

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { index >= scalars.count }

    /// `a|b|c`: the first alternative's sample (the others are parsed and dropped).
    mutating func alternation() -> String? {
        guard let first = sequence() else { return nil }
        while !atEnd, scalars[index] == "|" {
            index += 1
            guard sequence() != nil else { return nil }
        }
        return first
    }

    mutating func sequence() -> String? {
        var text = ""
        while !atEnd, scalars[index] != "|", scalars[index] != ")" {
            guard let atom = atom(), let count = quantifier() else { return nil }
            guard text.unicodeScalars.count + atom.unicodeScalars.count * count <= 10_000 else { return nil }
            text += String(repeating: atom, count: count)
        }
        return text
    }

    mutating func atom() -> String? {
        let scalar = scalars[index]
        index += 1
        switch scalar {
        case "^", "$": return ""
        case ".": return "x"
        case "(":
            if index + 1 < scalars.count, scalars[index] == "?" {
                guard scalars[index + 1] == ":" else { return nil }  // lookarounds, named groups: not known
                index += 2
            }
            guard let inner = alternation(), !atEnd, scalars[index] == ")" else { return nil }
            index += 1
            return inner
        case "[": return characterClass()
        case "\\":
            guard let escaped = escape() else { return nil }
            return escaped.first.map { String($0) } ?? ""  // an anchor matches the empty string
        case "*", "+", "?", "{", ")", "|": return nil
        default: return String(scalar)
        }
    }

    /// Reads an escape after `\`: the characters it may stand for, the first preferred (empty for an anchor);
    /// `nil` for one not known.
    mutating func escape() -> [Unicode.Scalar]? {
        guard !atEnd else { return nil }
        let escaped = scalars[index]
        index += 1
        switch escaped {
        case "d": return ["0", "1", "5", "9"]
        case "w": return ["a", "Z", "_", "7"]
        case "s": return [" ", "\t"]
        case "D": return ["x", "-"]
        case "W": return ["-", " "]
        case "S": return ["x", "-"]
        case "n": return ["\n"]
        case "t": return ["\t"]
        case "r": return ["\r"]
        case "A", "z", "Z", "b", "B": return []
        case "x", "u":
            let width = escaped == "x" ? 2 : 4
            guard index + width <= scalars.count,
                let code = UInt32(String(String.UnicodeScalarView(scalars[index..<(index + width)])), radix: 16),
                let decoded = Unicode.Scalar(code)
            else { return nil }
            index += width
            return [decoded]
        case _ where escaped.properties.isAlphabetic || ("0"..."9").contains(escaped): return nil
        default: return [escaped]  // escaped punctuation
        }
    }

    /// The characters of `\\d`, `\\w` and `\\s` (ASCII, as far as a sample needs them).
    static let classRanges: [Unicode.Scalar: [ClosedRange<UInt32>]] = [
        "d": [0x30...0x39],
        "w": [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A],
        "s": [0x09...0x0D, 0x20...0x20],
    ]

    /// `[...]`: its first member, or for `[^...]` the first candidate it does not hold.
    mutating func characterClass() -> String? {
        var negated = false
        if !atEnd, scalars[index] == "^" {
            negated = true
            index += 1
        }
        var ranges: [ClosedRange<UInt32>] = []
        var first = true
        while !atEnd, scalars[index] != "]" || first {
            first = false
            var members: [Unicode.Scalar]
            if scalars[index] == "\\", index + 1 < scalars.count, let whole = Self.classRanges[scalars[index + 1]] {
                // A class escape inside a class: all of its characters are members.
                index += 2
                ranges += whole
                continue
            } else if scalars[index] == "\\" {
                index += 1
                guard let escaped = escape(), escaped.count == 1 else { return nil }
                members = escaped
            } else {
                members = [scalars[index]]
                index += 1
            }
            if members.count == 1, index + 1 < scalars.count, scalars[index] == "-", scalars[index + 1] != "]" {
                index += 1
                var upper = scalars[index]
                index += 1
                if upper == "\\" {
                    guard let escaped = escape(), escaped.count == 1 else { return nil }
                    upper = escaped[0]
                }
                guard members[0].value <= upper.value else { return nil }
                ranges.append(members[0].value...upper.value)
            } else {
                ranges += members.map { $0.value...$0.value }
            }
        }
        guard !atEnd else { return nil }
        index += 1
        if negated {
            let candidates: [Unicode.Scalar] = ["x", "Q", "7", "-", "_", " ", "#", "Ж"]
            return candidates.first { candidate in !ranges.contains { $0.contains(candidate.value) } }.map {
                String($0)
            }
        }
        return ranges.first.flatMap { Unicode.Scalar($0.lowerBound) }.map { String($0) }
    }

    /// The repetitions to use for the atom before: the least the quantifier allows; `nil` for a malformed one or
    /// one over 1,000.
    mutating func quantifier() -> Int? {
        guard !atEnd else { return 1 }
        var count = 1
        switch scalars[index] {
        case "?", "*":
            count = 0
            index += 1
        case "+":
            index += 1
        case "{":
            guard let close = scalars[index...].firstIndex(of: "}") else { return nil }
            let body = String(String.UnicodeScalarView(scalars[(index + 1)..<close]))
            guard let least = Int(body.split(separator: ",", omittingEmptySubsequences: false).first ?? ""),
                (0...1000).contains(least)
            else { return nil }
            count = least
            index = close + 1
        default:
            return 1
        }
        if !atEnd, scalars[index] == "?" || scalars[index] == "+" { index += 1 }  // lazy or possessive
        return count
    }
}
