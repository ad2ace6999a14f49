#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Member-by-member reads straight off the bytes, for the shapes read on every call (a stream event, ``ChatChunk``,
/// and an answer): no `[String: JSONValue]` is built per object. Building them (hashing every member name) was half
/// of the worker's instructions per streamed job (issue 17). The rules are ``JSONFields``' (a missing or `null` member is
/// `nil`, a member of the wrong type throws ``JSONFields/TypeError`` naming its path) and the syntax errors
/// ``JSONValue/ParseError``s.
extension JSONByteParser {
    /// Parses a whole document with `body`, which must read the one value; only white space may follow it.
    static func read<Result>(
        _ bytes: [UInt8],
        _ body: (inout JSONByteParser) throws -> Result
    ) throws -> Result {
        try bytes.withUnsafeBytes { try read($0, body) }
    }

    /// Parses a whole document given as a view of bytes (a stream event in the SSE parser's buffer).
    static func read<Result>(
        _ buffer: UnsafeRawBufferPointer,
        _ body: (inout JSONByteParser) throws -> Result
    ) throws -> Result {
        var parser = JSONByteParser(bytes: buffer)
        parser.skipWhitespace()
        let result = try body(&parser)
        parser.skipWhitespace()
        guard parser.position == buffer.count else { throw parser.error("unexpected bytes after the value") }
        return result
    }

    /// Reads a `null` if one is next.
    /// - Returns: Whether it did.
    mutating func readNull() throws(JSONValue.ParseError) -> Bool {
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: "n") else { return false }
        try expect("null")
        return true
    }

    /// A member's name as it stands in the bytes, matched against literals without making a `String` (a stream
    /// event has about seven names): `case "content":` in a `switch`.
    enum MemberName {
        /// The bytes between the quotes (no escapes in them).
        case raw(UnsafeRawBufferPointer)
        /// A name with escapes, decoded.
        case decoded(String)

        /// The name as a `String`.
        var string: String {
            switch self {
            case .raw(let bytes): String(decoding: bytes, as: UTF8.self)
            case .decoded(let text): text
            }
        }

        @inline(__always)
        static func ~= (pattern: StaticString, name: MemberName) -> Bool {
            switch name {
            case .raw(let bytes):
                let count = pattern.utf8CodeUnitCount
                guard count == bytes.count else { return false }
                return count == 0 || memcmp(pattern.utf8Start, bytes.baseAddress!, count) == 0
            case .decoded(let text):
                return text == pattern.description
            }
        }
    }

    /// Reads a member name (the parser is at its opening quote).
    private mutating func parseMemberName() throws(JSONValue.ParseError) -> MemberName {
        let start = position + 1
        let end = JSONStringScan.firstSpecialByte(in: bytes, from: start)
        guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else { return .decoded(try parseString()) }
        position = end + 1
        return .raw(UnsafeRawBufferPointer(rebasing: bytes[start..<end]))
    }

    /// Where a member-by-member read of one object or array stands (``nextMember(_:)``, ``nextElement(_:)``).
    struct Items {
        /// The bracket that ends it.
        fileprivate let close: UInt8
        /// Whether the first item's place was passed (every later item follows a comma).
        fileprivate var started = false
    }

    /// Starts reading an object member by member (the parser is at its value); read its members with
    /// ``nextMember(_:)`` until that returns `nil`. A loop over these, unlike ``readObject(at:depth:_:)``'s
    /// closure, lets the reader move what it read into its result: a variable a closure captured was copied out
    /// (each of its strings retained once more) on every stream event.
    /// - Returns: `nil` for `null` (nothing else read).
    mutating func beginObject(at path: @autoclosure () -> String, depth: Int) throws -> Items? {
        try begin(open: "{", close: "}", expected: "an object", at: path, depth: depth)
    }

    /// Starts reading an array item by item (the parser is at its value); read each with one of these reads
    /// while ``nextElement(_:)`` returns `true`.
    /// - Returns: `nil` for `null` (nothing else read).
    mutating func beginArray(at path: @autoclosure () -> String, depth: Int) throws -> Items? {
        try begin(open: "[", close: "]", expected: "an array", at: path, depth: depth)
    }

    private mutating func begin(
        open: Unicode.Scalar,
        close: Unicode.Scalar,
        expected: String,
        at path: () -> String,
        depth: Int
    ) throws -> Items? {
        if try readNull() { return nil }
        guard depth < 512 else { throw error("nested too deeply") }
        guard position < bytes.count, bytes[position] == UInt8(ascii: open) else {
            throw JSONFields.TypeError(path: path(), expected: expected)
        }
        position += 1
        return Items(close: UInt8(ascii: close))
    }

    /// Moves past the comma before the next item, or past the closing bracket.
    /// - Returns: Whether an item follows (the parser is at it).
    private mutating func advance(_ items: inout Items) throws(JSONValue.ParseError) -> Bool {
        skipWhitespace()
        if items.started {
            guard position < bytes.count else { throw error("unexpected end") }
            if bytes[position] == UInt8(ascii: ",") {
                position += 1
                skipWhitespace()
                return true
            }
            guard bytes[position] == items.close else {
                throw error("expected ',' or '\(Unicode.Scalar(items.close))'")
            }
            position += 1
            return false
        }
        items.started = true
        if position < bytes.count, bytes[position] == items.close {
            position += 1
            return false
        }
        return true
    }

    /// The next member's name of an object begun with ``beginObject(at:depth:)``, the parser then at its value
    /// (which the caller must read, or skip with ``skipValue(depth:)``); `nil` past the object's end.
    mutating func nextMember(_ object: inout Items) throws(JSONValue.ParseError) -> MemberName? {
        guard try advance(&object) else { return nil }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw error("expected a member name")
        }
        let name = try parseMemberName()
        skipWhitespace()
        guard position < bytes.count, bytes[position] == UInt8(ascii: ":") else { throw error("expected ':'") }
        position += 1
        skipWhitespace()
        return name
    }

    /// Whether another item of an array begun with ``beginArray(at:depth:)`` follows (the parser is then at it);
    /// `false` past the array's end.
    mutating func nextElement(_ array: inout Items) throws(JSONValue.ParseError) -> Bool {
        try advance(&array)
    }

    /// Reads an object, calling `member` with each member's name; `member` must read the member's value (with
    /// one of these reads, or ``skipValue(depth:)``).
    /// - Returns: `false` for `null` (nothing else read).
    mutating func readObject(
        at path: @autoclosure () -> String,
        depth: Int,
        _ member: (inout JSONByteParser, MemberName) throws -> Void
    ) throws -> Bool {
        guard var object = try beginObject(at: path(), depth: depth) else { return false }
        while let name = try nextMember(&object) { try member(&self, name) }
        return true
    }

    /// Reads an array, calling `element` with each item's index; `element` must read the item.
    /// - Returns: `false` for `null` (nothing else read).
    mutating func readArray(
        at path: @autoclosure () -> String,
        depth: Int,
        _ element: (inout JSONByteParser, Int) throws -> Void
    ) throws -> Bool {
        guard var array = try beginArray(at: path(), depth: depth) else { return false }
        var index = 0
        while try nextElement(&array) {
            try element(&self, index)
            index += 1
        }
        return true
    }

    /// Reads a string member's value; `nil` for `null`.
    mutating func readString(at path: @autoclosure () -> String) throws -> String? {
        if try readNull() { return nil }
        guard position < bytes.count, bytes[position] == UInt8(ascii: "\"") else {
            throw JSONFields.TypeError(path: path(), expected: "a string")
        }
        return try parseString()
    }

    /// Reads a whole-number member's value; `nil` for `null`.
    mutating func readInt(at path: @autoclosure () -> String, depth: Int) throws -> Int? {
        if depth < 512, let number = try parseShortInteger() { return number }
        let value = try parseValue(depth: depth)
        if value == .null { return nil }
        guard let number = value.intValue else { throw JSONFields.TypeError(path: path(), expected: "a whole number") }
        return number
    }

    /// Reads an object member into ``JSONFields`` (for members that come once a stream, not once an event);
    /// `nil` for `null`.
    mutating func readFields(at path: @autoclosure () -> String, depth: Int) throws -> JSONFields? {
        let value = try parseValue(depth: depth)
        if value == .null { return nil }
        return try JSONFields(value, path: path())
    }

    /// Reads past a value of any type (a member the model does not know).
    mutating func skipValue(depth: Int) throws {
        _ = try parseValue(depth: depth)
    }
}
