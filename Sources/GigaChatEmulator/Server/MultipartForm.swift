import Foundation
import NIOCore

/// A `multipart/form-data` body (RFC 7578) split into its parts: enough for `POST /files`, whose clients (the SDK's
/// httpx, this project's client) send a `file` part with a filename and content type and a `purpose` field.
struct MultipartForm {
    struct Part {
        /// The `name` of `Content-Disposition: form-data`.
        var name: String
        /// Its `filename`, for a file part.
        var filename: String?
        /// The part's `Content-Type`, when given.
        var contentType: String?
        var data: [UInt8]
    }

    var parts: [Part]

    /// The boundary of a `Content-Type: multipart/form-data; boundary=...` header (quoted or not).
    static func boundary(of contentType: String) -> String? {
        guard contentType.lowercased().hasPrefix("multipart/form-data") else { return nil }
        for parameter in contentType.split(separator: ";").dropFirst() {
            let pair = parameter.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2, pair[0].lowercased() == "boundary" else { continue }
            var value = pair[1]
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 {
                value = String(value.dropFirst().dropLast())
            }
            return value.isEmpty ? nil : value
        }
        return nil
    }

    /// Parses a body; `nil` when it is not well-formed multipart with this boundary.
    init?(body: ByteBuffer, boundary: String) {
        let bytes = Array(body.readableBytesView)
        let delimiter = Array("--\(boundary)".utf8)
        guard var position = Self.find(delimiter, in: bytes, from: 0) else { return nil }
        var parts: [Part] = []
        while true {
            position += delimiter.count
            // `--` after a delimiter ends the body.
            if position + 1 < bytes.count, bytes[position] == UInt8(ascii: "-"),
                bytes[position + 1] == UInt8(ascii: "-")
            {
                break
            }
            guard position + 1 < bytes.count, bytes[position] == 13, bytes[position + 1] == 10 else { return nil }
            position += 2
            guard let headersEnd = Self.find([13, 10, 13, 10], in: bytes, from: position) else { return nil }
            let headerText = String(decoding: bytes[position..<headersEnd], as: UTF8.self)
            let contentStart = headersEnd + 4
            guard let next = Self.find([13, 10] + delimiter, in: bytes, from: contentStart) else { return nil }
            var part = Part(name: "", filename: nil, contentType: nil, data: Array(bytes[contentStart..<next]))
            for line in headerText.split(separator: "\r\n") {
                let field = line.split(separator: ":", maxSplits: 1)
                guard field.count == 2 else { continue }
                let value = field[1].trimmingCharacters(in: .whitespaces)
                switch field[0].lowercased() {
                case "content-disposition":
                    part.name = Self.parameter("name", in: value) ?? ""
                    part.filename = Self.parameter("filename", in: value)
                case "content-type":
                    part.contentType = value
                default:
                    continue
                }
            }
            parts.append(part)
            position = next + 2
        }
        self.parts = parts
    }

    subscript(name: String) -> Part? { parts.first { $0.name == name } }

    /// A `name="value"` parameter of a header value: quoted strings may hold `;`, and their `%22` and `\\`
    /// escapes (httpx's, for `"` and `\\`) are undone.
    static func parameter(_ name: String, in value: String) -> String? {
        var scalars = Array(value.unicodeScalars)[...]
        // Skip the disposition type (`form-data`).
        guard let first = scalars.firstIndex(of: ";") else { return nil }
        scalars = scalars[(first + 1)...]
        while !scalars.isEmpty {
            while let next = scalars.first, next == " " || next == "\t" || next == ";" { scalars = scalars.dropFirst() }
            guard let equals = scalars.firstIndex(of: "=") else { return nil }
            let key = String(String.UnicodeScalarView(scalars[..<equals])).trimmingCharacters(in: .whitespaces)
            scalars = scalars[(equals + 1)...]
            var text = ""
            if scalars.first == "\"" {
                scalars = scalars.dropFirst()
                while let next = scalars.first, next != "\"" {
                    if next == "\\", scalars.count > 1 {
                        scalars = scalars.dropFirst()
                        text.unicodeScalars.append(scalars.first!)
                    } else {
                        text.unicodeScalars.append(next)
                    }
                    scalars = scalars.dropFirst()
                }
                scalars = scalars.dropFirst()  // the closing quote
                text = text.replacingOccurrences(of: "%22", with: "\"")
            } else {
                let end = scalars.firstIndex(of: ";") ?? scalars.endIndex
                text = String(String.UnicodeScalarView(scalars[..<end])).trimmingCharacters(in: .whitespaces)
                scalars = scalars[end...]
            }
            if key.lowercased() == name { return text }
        }
        return nil
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else {
            return nil
        }
        var index = start
        let first = needle[0]
        while index <= haystack.count - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
