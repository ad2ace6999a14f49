/// A file in GigaChat's storage (`POST /files`, `GET /files`), as the official SDK models it (`models/files.py`).
public struct GigaChatFile: Codable, Sendable, Hashable {
    /// The id to attach (v1 `attachments`, v2 `files` parts).
    public var id: String
    /// `file`.
    public var object: String?
    /// Its size.
    public var bytes: Int
    /// Unix seconds.
    public var createdAt: Int
    /// The name it was uploaded with.
    public var filename: String
    /// `general` (for chat) or `assistant`.
    public var purpose: String
    /// `private`, or `public` for files GigaChat generated.
    public var accessPolicy: String?

    private enum CodingKeys: String, CodingKey {
        case id, object, bytes, filename, purpose
        case createdAt = "created_at"
        case accessPolicy = "access_policy"
    }
}

/// The kinds of files GigaChat takes, with the docs' limits (developers.sber.ru, working-with-files and post-file):
/// text documents up to 40 MB, images up to 15 MB, audio up to 35 MB.
public enum GigaChatFileKind: String, Sendable, Hashable, CaseIterable {
    case text, image, audio

    /// The largest file of the kind, in bytes.
    public var maximumBytes: Int {
        switch self {
        case .text: 40_000_000
        case .image: 15_000_000
        case .audio: 35_000_000
        }
    }

    /// The extensions the docs list, with the MIME type sent for each.
    public static let types: [String: (kind: GigaChatFileKind, mime: String)] = [
        "txt": (.text, "text/plain"), "pdf": (.text, "application/pdf"), "doc": (.text, "application/msword"),
        "docx": (.text, "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        "epub": (.text, "application/epub+zip"), "ppt": (.text, "application/vnd.ms-powerpoint"),
        "pptx": (.text, "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        "xlsx": (.text, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        "jpg": (.image, "image/jpeg"), "jpeg": (.image, "image/jpeg"), "png": (.image, "image/png"),
        "tiff": (.image, "image/tiff"), "tif": (.image, "image/tiff"), "bmp": (.image, "image/bmp"),
        "mp3": (.audio, "audio/mpeg"), "mp4": (.audio, "audio/mp4"), "m4a": (.audio, "audio/mp4"),
        "wav": (.audio, "audio/wav"), "weba": (.audio, "audio/webm"), "ogg": (.audio, "audio/ogg"),
        "opus": (.audio, "audio/opus"),
    ]

    /// The kind and MIME type of a file by its name's extension.
    /// - Throws: ``GigaChatError`` (``GigaChatError/Code/badRequest``) for a type GigaChat does not take, or a size
    ///   over the kind's limit, naming it.
    public static func check(filename: String, bytes: Int) throws -> (kind: GigaChatFileKind, mime: String) {
        let name = filename.split(separator: "/").last.map(String.init) ?? filename
        guard let dot = name.lastIndex(of: "."),
            let type = types[name[name.index(after: dot)...].lowercased()]
        else {
            let known = types.keys.sorted().joined(separator: ", ")
            throw GigaChatError(
                code: .badRequest,
                message: "\(filename): GigaChat does not take this type of file (it takes \(known))"
            )
        }
        guard bytes <= type.kind.maximumBytes else {
            throw GigaChatError(
                code: .badRequest,
                message:
                    "\(filename): \(bytes) bytes, over the \(type.kind.maximumBytes / 1_000_000) MB GigaChat allows for \(type.kind.rawValue) files"
            )
        }
        return type
    }
}
