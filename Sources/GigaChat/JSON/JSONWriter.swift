/// Writes JSON bytes directly, field by field: the fast path for the shapes written on every call (chat requests,
/// the worker's completions and partials), where `JSONEncoder` was the largest single cost.
///
/// Strings are escaped per RFC 8259 (quote, backslash and control characters; everything else as UTF-8).
/// Numbers of a `JSONValue` that are whole go out as integers, others in Swift's shortest form; a value JSON
/// cannot hold (infinity, NaN) is written as `null`.
public struct JSONWriter {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    /// Creates a writer.
    public init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Starts an object (after a key, or as a value).
    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    /// Ends the object.
    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Writes a member name (a literal that needs no escaping) and the colon.
    public mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    /// Writes a member name that may need escaping, and the colon.
    public mutating func rawKey(_ name: String) {
        separate()
        Self.writeString(name, into: &bytes)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    /// Writes a string (`null` for `nil`).
    public mutating func string(_ value: String?) {
        separate()
        guard let value else { return null() }
        Self.writeString(value, into: &bytes)
        needsComma = true
    }

    /// Writes an integer (`null` for `nil`).
    public mutating func int(_ value: Int?) {
        separate()
        guard let value else { return null() }
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    /// Writes `true` or `false`.
    public mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    /// Writes `null`.
    public mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// Writes a JSON value (`null` for `nil`).
    public mutating func value(_ value: JSONValue?) {
        guard let value else { return null() }
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .string(let text): string(text)
        case .number(let number):
            separate()
            if !number.isFinite {
                bytes.append(contentsOf: "null".utf8)
            } else if number.rounded() == number, abs(number) < 9.007_199_254_740_992e15 {
                bytes.append(contentsOf: String(Int64(number)).utf8)
            } else {
                bytes.append(contentsOf: "\(number)".utf8)
            }
            needsComma = true
        case .array(let items):
            separate()
            bytes.append(UInt8(ascii: "["))
            needsComma = false
            for item in items { self.value(item) }
            bytes.append(UInt8(ascii: "]"))
            needsComma = true
        case .object(let members):
            beginObject()
            // Sorted, so the same metadata always gives the same bytes.
            for (name, member) in members.sorted(by: { $0.key < $1.key }) {
                separate()
                Self.writeString(name, into: &bytes)
                bytes.append(UInt8(ascii: ":"))
                needsComma = false
                self.value(member)
            }
            endObject()
        }
    }

    /// Starts an array.
    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    /// Ends the array.
    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes a number.
    public mutating func double(_ value: Double) {
        self.value(.number(value))
    }

    /// Writes a number in `Float`'s shortest form (`null` for infinity or NaN).
    public mutating func float(_ value: Float) {
        separate()
        guard value.isFinite else { return null() }
        if value.rounded() == value, abs(value) < 1e15 {
            bytes.append(contentsOf: String(Int64(value)).utf8)
        } else {
            bytes.append(contentsOf: value.description.utf8)
        }
        needsComma = true
    }

    /// Writes bytes that already are one JSON value.
    public mutating func raw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    private mutating func separate() {
        if needsComma {
            bytes.append(UInt8(ascii: ","))
            needsComma = false
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `value` as a JSON string literal.
    public static func writeString(_ value: String, into bytes: inout [UInt8]) {
        var value = value
        bytes.append(UInt8(ascii: "\""))
        value.withUTF8 { utf8 in
            // Runs of bytes that need no escaping are found a word at a time and copied at once.
            var runStart = 0
            while true {
                let index = JSONStringScan.firstSpecialByte(in: UnsafeRawBufferPointer(utf8), from: runStart)
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                guard index < utf8.count else { break }
                let byte = utf8[index]
                runStart = index + 1
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    bytes.append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                        hex[Int(byte >> 4)], hex[Int(byte & 0x0F)],
                    ])
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
