import GigaChat

/// Writes the worker's output records as JSON bytes directly: a completion or a partial per job (and up to dozens
/// of partials per streamed job) made `JSONEncoder` the largest single cost of the pipeline.
///
/// Strings are escaped per RFC 8259 (quote, backslash and control characters; everything else as UTF-8).
/// Numbers of a `JSONValue` that are whole go out as integers, others in Swift's shortest form; a value JSON
/// cannot hold (infinity, NaN) is written as `null`.
struct JSONOutput {
    private(set) var bytes: [UInt8] = []
    private var needsComma = false

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        name.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        needsComma = false
    }

    mutating func string(_ value: String?) {
        separate()
        guard let value else { return null() }
        Self.writeString(value, into: &bytes)
        needsComma = true
    }

    mutating func int(_ value: Int?) {
        separate()
        guard let value else { return null() }
        bytes.append(contentsOf: String(value).utf8)
        needsComma = true
    }

    mutating func bool(_ value: Bool) {
        separate()
        bytes.append(contentsOf: (value ? "true" : "false").utf8)
        needsComma = true
    }

    mutating func null() {
        separate()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    mutating func value(_ value: JSONValue?) {
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

    private mutating func separate() {
        if needsComma {
            bytes.append(UInt8(ascii: ","))
            needsComma = false
        }
    }

    private static let hex: [UInt8] = Array("0123456789abcdef".utf8)

    static func writeString(_ value: String, into bytes: inout [UInt8]) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                bytes.append(contentsOf: [
                    UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                    hex[Int(byte >> 4)], hex[Int(byte & 0x0F)],
                ])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
