import Foundation
import NIOCore

extension GigaChatClient {
    private struct FileList: Decodable {
        var data: [GigaChatFile]
    }

    private struct DeletedFile: Decodable {
        var id: String
        var deleted: Bool
    }

    /// Uploads a file to the account's storage (`POST /files`, multipart), for chat requests to attach.
    ///
    /// The type and size are checked first against the docs' limits (``GigaChatFileKind/check(filename:bytes:)``).
    /// An upload is not retried: `POST /files` is not idempotent, and a retry after a lost answer would store the
    /// file twice.
    /// - Parameters:
    ///   - contents: The file's bytes.
    ///   - filename: Its name (the extension decides the type).
    ///   - purpose: `general` (chat) or `assistant`.
    /// - Returns: The stored file; its ``GigaChatFile/id`` is what a message attaches.
    /// - Throws: ``GigaChatError``.
    public func uploadFile(
        _ contents: [UInt8],
        filename: String,
        purpose: String = "general",
        headers: GigaChatRequestHeaders = .init()
    ) async throws -> GigaChatFile {
        let type = try GigaChatFileKind.check(filename: filename, bytes: contents.count)
        let boundary = "gigachat-worker-" + UUID().lowercasedString
        let name = Self.quotedParameter(filename.split(separator: "/").last.map(String.init) ?? filename)
        var body = ByteBuffer()
        body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n\(purpose)\r\n")
        body.writeString("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n")
        body.writeString("Content-Type: \(type.mime)\r\n\r\n")
        body.writeBytes(contents)
        body.writeString("\r\n--\(boundary)--\r\n")
        return try await self.callJSON(
            .POST,
            "/files",
            body: body,
            contentType: "multipart/form-data; boundary=\(boundary)",
            headers: headers,
            retried: false,
            as: GigaChatFile.self
        ).0
    }

    /// The account's files (`GET /files`).
    /// - Throws: ``GigaChatError``.
    public func files(headers: GigaChatRequestHeaders = .init()) async throws -> [GigaChatFile] {
        try await self.callJSON(.GET, "/files", headers: headers, as: FileList.self).0.data
    }

    /// One file's description (`GET /files/{id}`).
    /// - Throws: ``GigaChatError`` (``GigaChatError/Code/notFound`` for an unknown id).
    public func file(id: String, headers: GigaChatRequestHeaders = .init()) async throws -> GigaChatFile {
        try await self.callJSON(.GET, "/files/\(Self.pathComponent(id))", headers: headers, as: GigaChatFile.self).0
    }

    /// Deletes a file (`POST /files/{id}/delete`).
    /// - Returns: Whether GigaChat says it was deleted.
    /// - Throws: ``GigaChatError`` (``GigaChatError/Code/notFound`` for an unknown id).
    @discardableResult
    public func deleteFile(id: String, headers: GigaChatRequestHeaders = .init()) async throws -> Bool {
        try await self.callJSON(
            .POST,
            "/files/\(Self.pathComponent(id))/delete",
            body: ByteBuffer(string: "{}"),
            headers: headers,
            as: DeletedFile.self
        ).0.deleted
    }

    /// A filename inside `filename="..."`, escaped as httpx (the SDK's HTTP client) escapes it: `"` as `%22`,
    /// `\` doubled, control characters as `%XX`; other characters (Cyrillic too) as UTF-8.
    static func quotedParameter(_ name: String) -> String {
        var result = ""
        for scalar in name.unicodeScalars {
            switch scalar {
            case "\"": result += "%22"
            case "\\": result += "\\\\"
            case _ where scalar.value < 0x20 || scalar.value == 0x7F:
                result += String(format: "%%%02X", scalar.value)
            default: result.unicodeScalars.append(scalar)
            }
        }
        return result
    }

    private static func pathComponent(_ id: String) -> String {
        id.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? id
    }
}
