import Foundation
import NIOCore
import NIOHTTP1

// MARK: - EmulatorRouter + Files

/// The files API as the official SDK 0.2.3 calls it (`api/files.py`, `models/files.py`): `POST /api/v1/files`
/// (multipart: a `file` part with its name and type, a `purpose` field), `GET /api/v1/files`,
/// `GET /api/v1/files/{id}`, `GET /api/v1/files/{id}/content`, `POST /api/v1/files/{id}/delete`. A file belongs to
/// the account that uploaded it. The types and limits are the docs' (working-with-files, post-file): text (txt, doc,
/// docx, pdf, epub, ppt, pptx, xlsx) up to 40 MB, images (jpeg, png, tiff, bmp) up to 15 MB, audio (mp3, mp4, m4a,
/// wav, weba, ogg, opus) up to 35 MB; another type is 415 `Unsupported file type`; a larger text file is 422 (the
/// docs' status), a larger image or recording 413. An account keeps at most 1,000 files (then 413 `Storage is
/// full`).
extension EmulatorRouter {
    /// A stored file's kind, from its name's extension (the type the client sent is kept as its `mime`).
    enum FileKind: String {
        case text, image, audio

        static let extensions: [String: FileKind] = [
            "txt": .text, "doc": .text, "docx": .text, "pdf": .text, "epub": .text, "ppt": .text, "pptx": .text,
            "xlsx": .text, "jpg": .image, "jpeg": .image, "png": .image, "tiff": .image, "tif": .image, "bmp": .image,
            "mp3": .audio, "mp4": .audio, "m4a": .audio, "wav": .audio, "weba": .audio, "ogg": .audio, "opus": .audio,
        ]

        var maximumBytes: Int {
            switch self {
            case .text: 40_000_000
            case .image: 15_000_000
            case .audio: 35_000_000
            }
        }

        static func of(filename: String) -> FileKind? {
            guard let dot = filename.lastIndex(of: ".") else { return nil }
            return extensions[filename[filename.index(after: dot)...].lowercased()]
        }
    }

    /// Routes `/api/v1/files...`; `nil` for a path that is not one of them.
    func filesRoute(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse? {
        let prefix = "/api/v1/files"
        guard request.path == prefix || request.path.hasPrefix(prefix + "/") else { return nil }
        let rest = request.path.dropFirst(prefix.count).split(separator: "/").map(String.init)
        let account: String
        switch authenticate(request, allocator: allocator) {
        case .success(let token): account = token.account
        case .failure(let error): return error.response
        }
        state.count { $0.fileCalls += 1 }
        switch (request.method, rest.count) {
        case (.POST, 0): return upload(request, account: account, allocator: allocator)
        case (.GET, 0):
            let files = state.files(of: account).map(Self.fileObject)
            return json(.ok, .object([("data", .array(files))]), request, allocator: allocator)
        case (.GET, 1):
            guard let file = state.file(rest[0], of: account) else { return notFound(request, allocator) }
            return json(.ok, Self.fileObject(file), request, allocator: allocator)
        case (.GET, 2) where rest[1] == "content":
            guard let file = state.file(rest[0], of: account) else { return notFound(request, allocator) }
            var buffer = allocator.buffer(capacity: file.contents.count)
            buffer.writeBytes(file.contents)
            return EmulatorResponse(
                status: .ok,
                headers: apiHeaders(for: request, contentType: file.mime),
                body: .bytes(buffer)
            )
        case (.POST, 2) where rest[1] == "delete":
            guard state.deleteFile(rest[0], of: account) else { return notFound(request, allocator) }
            return json(
                .ok,
                .object([("id", .string(rest[0])), ("deleted", .bool(true))]),
                request,
                allocator: allocator
            )
        default:
            return apiError(.notFound, "Not Found", request, allocator: allocator)
        }
    }

    private func notFound(_ request: EmulatorRequest, _ allocator: ByteBufferAllocator) -> EmulatorResponse {
        apiError(.notFound, "File not found", request, allocator: allocator)
    }

    private func upload(_ request: EmulatorRequest, account: String, allocator: ByteBufferAllocator) -> EmulatorResponse
    {
        guard let boundary = MultipartForm.boundary(of: request.headers.first(name: "Content-Type") ?? ""),
            let form = MultipartForm(body: request.body, boundary: boundary)
        else {
            return apiError(.badRequest, "Expected multipart/form-data with a file", request, allocator: allocator)
        }
        guard let part = form["file"], let filename = part.filename, !filename.isEmpty else {
            return apiError(.badRequest, "The form has no file part with a filename", request, allocator: allocator)
        }
        let purpose = form["purpose"].map { String(decoding: $0.data, as: UTF8.self) } ?? "general"
        guard ["general", "assistant"].contains(purpose) else {
            return apiError(
                .unprocessableEntity,
                "Invalid params: purpose must be general or assistant",
                request,
                allocator: allocator
            )
        }
        guard let kind = FileKind.of(filename: filename) else {
            return apiError(.unsupportedMediaType, "Unsupported file type", request, allocator: allocator)
        }
        guard part.data.count <= kind.maximumBytes else {
            return apiError(
                kind == .text ? .unprocessableEntity : .payloadTooLarge,
                "File is too large: \(kind.rawValue) files are limited to \(kind.maximumBytes) bytes",
                request,
                allocator: allocator
            )
        }
        let file = EmulatorState.StoredFile(
            id: GigaChatEmulator.stableUUID(
                "\(account)\u{1F}\(filename)\u{1F}\(Self.nowMilliseconds())\u{1F}\(UUID())"
            ),
            filename: filename,
            mime: part.contentType ?? "application/octet-stream",
            kind: kind.rawValue,
            purpose: purpose,
            createdAt: Int(Date().timeIntervalSince1970),
            contents: part.data
        )
        guard state.storeFile(file, of: account) else {
            return apiError(.payloadTooLarge, "Storage is full", request, allocator: allocator)
        }
        return json(.ok, Self.fileObject(file), request, allocator: allocator)
    }

    static func fileObject(_ file: EmulatorState.StoredFile) -> EmulatorJSON {
        .object([
            ("bytes", .number(Double(file.contents.count))), ("created_at", .number(Double(file.createdAt))),
            ("filename", .string(file.filename)), ("id", .string(file.id)), ("object", .string("file")),
            ("purpose", .string(file.purpose)), ("access_policy", .string("private")),
        ])
    }

    /// The files a chat request attaches, resolved for its account: 404 `File not found` for an id the account
    /// does not have, 422 for more than one image in a message or ten in a request (the docs' limits).
    func attachedFiles(_ chat: ChatRequest, account: String) throws(Rejection) -> [EmulatorState.StoredFile] {
        var files: [EmulatorState.StoredFile] = []
        var images = 0
        for message in chat.attachments {
            var imagesHere = 0
            for id in message {
                guard let file = state.file(id, of: account) else {
                    throw Rejection(status: .notFound, message: "File not found")
                }
                if file.kind == FileKind.image.rawValue { imagesHere += 1 }
                files.append(file)
            }
            guard imagesHere <= 1 else { throw Rejection.invalid("one image per message") }
            images += imagesHere
        }
        guard images <= 10 else { throw Rejection.invalid("at most 10 images per request") }
        return files
    }
}

extension GigaChatEmulator {
    /// What the emulator's answer says about an attached file, so a test can tell the file reached the model:
    /// `Файл <name>: <n> байт, отпечаток <8 hex digits of the contents' hash>.`
    public static func fileNote(filename: String, contents: [UInt8]) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325  // FNV-1a over the bytes
        for byte in contents { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        let hex = String(hash, radix: 16)
        let padded = String(repeating: "0", count: 16 - hex.count) + hex
        return "Файл \(filename): \(contents.count) байт, отпечаток \(padded.prefix(8))."
    }
}
