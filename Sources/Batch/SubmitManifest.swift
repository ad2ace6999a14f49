import Foundation
import GigaChat
import WireFormat

/// The ids a `submit` has had acknowledged, one JSON line each (`{"id","partition","offset","submitted_at"}`): a
/// re-run skips them, and `collect --manifest` waits for them and starts reading shortly before the first was
/// submitted.
public struct SubmitManifest: Sendable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The ids in the manifest, in order (empty when it does not exist).
    public func ids() throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var ids: [String] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n")).enumerated() where !line.isEmpty {
            guard let object = try? JSONValue(parsing: line), let id = object["id"]?.stringValue else {
                throw BatchInputError("\(path): line \(index + 1) is not a manifest entry")
            }
            ids.append(id)
        }
        return ids
    }

    /// When the earliest entry was submitted; `nil` when no entry says (or there is no manifest).
    public func firstSubmission() throws -> Date? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var first: Date?
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            guard let text = (try? JSONValue(parsing: line))?["submitted_at"]?.stringValue,
                let date = RFC3339.date(from: text)
            else { continue }
            first = min(first ?? date, date)
        }
        return first
    }

    /// Appends acknowledged ids, submitted at `date`.
    public func append(_ entries: [(id: String, partition: Int32, offset: Int64)], submittedAt date: Date = Date()) throws {
        guard !entries.isEmpty else { return }
        let submitted = RFC3339.string(from: date)
        var text = ""
        for entry in entries {
            let id = String(decoding: BatchJob(id: entry.id, value: .string(entry.id)).bytes, as: UTF8.self)
            text += "{\"id\":\(id),\"partition\":\(entry.partition),\"offset\":\(entry.offset),"
                + "\"submitted_at\":\"\(submitted)\"}\n"
        }
        if !FileManager.default.fileExists(atPath: path) {
            FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }
}
