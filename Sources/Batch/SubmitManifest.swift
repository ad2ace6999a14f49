import Foundation
import GigaChat

/// The ids a `submit` has had acknowledged, one JSON line each (`{"id","partition","offset"}`): a re-run skips
/// them, and `collect --manifest` waits for them.
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

    /// Appends acknowledged ids.
    public func append(_ entries: [(id: String, partition: Int32, offset: Int64)]) throws {
        guard !entries.isEmpty else { return }
        var text = ""
        for entry in entries {
            let id = String(decoding: BatchJob(id: entry.id, value: .string(entry.id)).bytes, as: UTF8.self)
            text += "{\"id\":\(id),\"partition\":\(entry.partition),\"offset\":\(entry.offset)}\n"
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
