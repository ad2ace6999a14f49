/// The recursive-descent parser behind ``JSONValue/init(parsing:)``.
struct JSONByteParser {
    let bytes: UnsafeRawBufferPointer
    var position = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    func error(_ reason: String) -> JSONValue.ParseError {
        JSONValue.ParseError(reason: reason, offset: position)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while position < bytes.count {
            switch bytes[position] {
            case 0x20, 0x0A, 0x0D, 0x09: position += 1
            default: return
            }
        }
    }

    mutating func parseValue(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        guard depth < 512 else { throw error("nested too deeply") }
        guard position < bytes.count else { throw error("unexpected end") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    mutating func expect(_ word: StaticString) throws(JSONValue.ParseError) {
        let count = word.utf8CodeUnitCount
        guard position + count <= bytes.count else { throw error("unexpected end") }
        for index in 0..<count where bytes[position + index] != word.utf8Start[index] {
            throw error("unexpected character")
        }
        position += count
    }

    // Objects and arrays are read by the member-by-member reads (JSONByteParser+Members.swift): one place for
    // their syntax. Those reads throw a type error only for a value that is not an object or array, which the
    // switch in `parseValue` has ruled out.

    private mutating func parseObject(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        var members: [String: JSONValue] = [:]
        do {
            _ = try readObject(at: "", depth: depth) { parser, name in
                let value = try parser.parseValue(depth: depth + 1)
                // Room for eight members with the first: grown one by one, a job's object was re-allocated and
                // re-hashed twice. Not before it: `{}` stays without storage.
                if members.isEmpty { members.reserveCapacity(8) }
                // A repeated name keeps its first value, as Foundation's decoder does.
                let key = name.string
                if members[key] == nil { members[key] = value }
            }
        } catch {
            throw Self.parseError(error)
        }
        return .object(members)
    }

    private mutating func parseArray(depth: Int) throws(JSONValue.ParseError) -> JSONValue {
        var items: [JSONValue] = []
        do {
            _ = try readArray(at: "", depth: depth) { parser, _ in
                items.append(try parser.parseValue(depth: depth + 1))
            }
        } catch {
            throw Self.parseError(error)
        }
        return .array(items)
    }

    private static func parseError(_ error: any Error) -> JSONValue.ParseError {
        error as? JSONValue.ParseError ?? JSONValue.ParseError(reason: "\(error)", offset: 0)
    }

    mutating func parseString() throws(JSONValue.ParseError) -> String {
        position += 1  // opening quote
        let start = position
        // Fast path: no escapes (the plain run found a word at a time).
        position = JSONStringScan.firstSpecialByte(in: bytes, from: start)
        guard position < bytes.count else { throw error("unterminated string") }
        if bytes[position] == UInt8(ascii: "\"") {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
            position += 1
            return text
        }
        if bytes[position] < 0x20 { throw error("control character in a string") }
        var buffer = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
        while position < bytes.count {
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                return String(decoding: buffer, as: UTF8.self)
            case UInt8(ascii: "\\"):
                position += 1
                guard position < bytes.count else { throw error("unterminated escape") }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""): buffer.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): buffer.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): buffer.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): buffer.append(0x08)
                case UInt8(ascii: "f"): buffer.append(0x0C)
                case UInt8(ascii: "n"): buffer.append(0x0A)
                case UInt8(ascii: "r"): buffer.append(0x0D)
                case UInt8(ascii: "t"): buffer.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        // A high surrogate must be followed by \u and a low one.
                        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else { throw error("unpaired surrogate") }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw error("unpaired surrogate")
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                    buffer.append(contentsOf: UTF8.encode(unicode)!)
                default:
                    throw error("invalid escape")
                }
            default:
                if byte < 0x20 { throw error("control character in a string") }
                // The plain run up to the next quote, escape or control character, copied at once.
                let end = JSONStringScan.firstSpecialByte(in: bytes, from: position)
                buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[position..<end]))
                position = end
            }
        }
        throw error("unterminated string")
    }

    private mutating func parseHex4() throws(JSONValue.ParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }

    private mutating func parseNumber() throws(JSONValue.ParseError) -> Double {
        let start = position
        if let value = try scanNumber() { return Double(value) }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
        guard let value = Double(text) else { throw error("invalid number") }
        return value
    }

    /// Reads a number that is a short whole number (the common case: indices, token counts, timestamps) as an
    /// `Int`, the value ``parseValue(depth:)`` and ``JSONValue/intValue`` would give; `nil`, with the parser where
    /// it was, for anything else (another number is read as a `Double` first, as always).
    mutating func parseShortInteger() throws(JSONValue.ParseError) -> Int? {
        guard position < bytes.count, bytes[position] == UInt8(ascii: "-") || isDigit() else { return nil }
        let start = position
        guard let value = try scanNumber() else {
            position = start
            return nil
        }
        return Int(value)
    }

    /// Moves past a number's syntax (the parser is at its first byte).
    /// - Returns: Its value when it is a short whole number: no fraction or exponent, at most 15 bytes (exact as a
    ///   `Double`); else `nil`. The digits are summed as they are read (wrapping: a longer number's sum is not used).
    private mutating func scanNumber() throws(JSONValue.ParseError) -> Int64? {
        let start = position
        let negative = bytes[position] == UInt8(ascii: "-")
        if negative { position += 1 }
        guard position < bytes.count else { throw error("unexpected end") }
        var value: Int64 = 0
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            guard isDigit() else { throw error("invalid number") }
            repeat {
                value = value &* 10 &+ Int64(bytes[position] &- UInt8(ascii: "0"))
                position += 1
            } while isDigit()
        }
        var integral = true
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            integral = false
            position += 1
            guard isDigit() else { throw error("invalid number") }
            while isDigit() { position += 1 }
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            integral = false
            position += 1
            if position < bytes.count, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") {
                position += 1
            }
            guard isDigit() else { throw error("invalid number") }
            while isDigit() { position += 1 }
        }
        guard integral, position - start <= 15 else { return nil }
        return negative ? -value : value
    }

    @inline(__always)
    private func isDigit() -> Bool {
        position < bytes.count && bytes[position] >= UInt8(ascii: "0") && bytes[position] <= UInt8(ascii: "9")
    }
}
