import Foundation
import GigaChat
import WireFormat

#if canImport(Glibc)
    import Glibc
#endif

/// Turns documents (files, folders, globs) into jobs with a prompt template.
///
/// The id is derived from the document's path (as given, made relative to the working directory when inside it)
/// and its content, so submitting the same files again gives the same ids (and a changed file a new one).
public struct DocumentJobs: Sendable {
    /// The prompt; `{{document}}` is replaced with the text, `{{filename}}` with the file's name.
    public var template: String
    /// A system message before the prompt.
    public var system: String?
    public var model: String?
    public var stream: Bool?
    public var options: [String: JSONValue]
    /// The largest document accepted, in UTF-8 bytes. Default: 64 KiB.
    public var maxDocumentBytes: Int
    /// Split a larger document into parts of at most ``maxDocumentBytes`` (at paragraph, then line breaks) instead
    /// of refusing it.
    public var split: Bool

    public init(
        template: String,
        system: String? = nil,
        model: String? = nil,
        stream: Bool? = nil,
        options: [String: JSONValue] = [:],
        maxDocumentBytes: Int = 64 << 10,
        split: Bool = false
    ) {
        self.template = template
        self.system = system
        self.model = model
        self.stream = stream
        self.options = options
        self.maxDocumentBytes = max(1, maxDocumentBytes)
        self.split = split
    }

    /// The files named by `inputs`: files as they are, folders recursively (hidden files skipped), globs expanded;
    /// sorted, each once.
    public static func files(_ inputs: [String]) throws -> [String] {
        var result: [String] = []
        let manager = FileManager.default
        for input in inputs {
            var matches: [String] = []
            if input.contains(where: { "*?[".contains($0) }) {
                matches = glob(input)
                if matches.isEmpty { throw BatchInputError("\(input): no file matches") }
            } else {
                matches = [input]
            }
            for path in matches {
                var isDirectory: ObjCBool = false
                guard manager.fileExists(atPath: path, isDirectory: &isDirectory) else {
                    throw BatchInputError("\(path): no such file or folder")
                }
                if isDirectory.boolValue {
                    let enumerator = manager.enumerator(atPath: path)
                    while let relative = enumerator?.nextObject() as? String {
                        let full = (path as NSString).appendingPathComponent(relative)
                        var nested: ObjCBool = false
                        let hidden = relative.split(separator: "/").contains { $0.hasPrefix(".") }
                        if !hidden, manager.fileExists(atPath: full, isDirectory: &nested), !nested.boolValue {
                            result.append(full)
                        }
                    }
                } else {
                    result.append(path)
                }
            }
        }
        var seen: Set<String> = []
        return result.filter { seen.insert($0).inserted }.sorted()
    }

    private static func glob(_ pattern: String) -> [String] {
        var matches = glob_t()
        defer { globfree(&matches) }
        guard Glibc.glob(pattern, 0, nil, &matches) == 0 else { return [] }
        return (0..<Int(matches.gl_pathc)).compactMap { matches.gl_pathv[$0].map { String(cString: $0) } }
    }

    /// The id of a document's job: its path and its content, so the same file gives the same id.
    public static func id(path: String, contents: Data) -> String {
        "doc-" + StableID.hex(of: Array(path.utf8) + [0] + Array(contents))
    }

    /// The job of a document sent as a file (`submit --attach`): the template's prompt (`{{filename}}` replaced)
    /// with the uploaded file attached, and the file's id in `metadata.gigachat_file_id` (the completion echoes it,
    /// so `collect` can delete the file once the job is answered).
    public func attachedJob(path: String, contents: Data, fileID: String) -> BatchJob {
        let name = (path as NSString).lastPathComponent
        var messages: [JSONValue] = []
        if let system { messages.append(.object(["role": "system", "content": .string(system)])) }
        messages.append(
            .object([
                "role": "user", "content": .string(template.replacingOccurrences(of: "{{filename}}", with: name)),
                "attachments": .array([.string(fileID)]),
            ])
        )
        let id = Self.id(path: path, contents: contents)
        var object: [String: JSONValue] = [
            "id": .string(id), "messages": .array(messages),
            "metadata": .object(["filename": .string(path), UploadedFileMetadata.key: .string(fileID)]),
        ]
        if let model { object["model"] = .string(model) }
        if let stream { object["stream"] = .bool(stream) }
        if !options.isEmpty { object["options"] = .object(options) }
        return BatchJob(id: id, value: .object(object))
    }

    /// The jobs of one document (one, or its parts with ``split``).
    /// - Throws: ``BatchInputError`` for a file that is not UTF-8 text or is too large (without ``split``).
    public func jobs(path: String, contents: Data) throws -> [BatchJob] {
        guard let text = String(data: contents, encoding: .utf8) else {
            throw BatchInputError("\(path): not UTF-8 text")
        }
        let name = (path as NSString).lastPathComponent
        let base = Self.id(path: path, contents: contents)
        var parts = [text]
        if contents.count > maxDocumentBytes {
            guard split else {
                throw BatchInputError(
                    "\(path): \(contents.count) bytes, more than the \(maxDocumentBytes) allowed "
                        + "(raise --max-document-bytes, or --split it into parts)"
                )
            }
            parts = Self.split(text, maxBytes: maxDocumentBytes)
        }
        return parts.enumerated().map { index, part in
            var messages: [(role: String, content: String)] = []
            if let system { messages.append(("system", system)) }
            let prompt = template.replacingOccurrences(of: "{{filename}}", with: name)
                .replacingOccurrences(of: "{{document}}", with: part)
            messages.append(("user", prompt))
            var metadata: [String: JSONValue] = ["filename": .string(path)]
            if parts.count > 1 {
                metadata["part"] = .number(Double(index + 1))
                metadata["parts"] = .number(Double(parts.count))
            }
            return BatchJob(
                id: parts.count > 1 ? "\(base)-p\(index + 1)" : base,
                messages: messages,
                model: model,
                stream: stream,
                options: options,
                metadata: .object(metadata)
            )
        }
    }

    /// Splits `text` into pieces of at most `maxBytes` UTF-8 bytes: at blank lines where it can, then at line
    /// breaks, then at spaces, then anywhere between characters.
    public static func split(_ text: String, maxBytes: Int) -> [String] {
        var pieces: [String] = []
        var current = ""
        func flush() {
            if !current.isEmpty { pieces.append(current) }
            current = ""
        }
        func add(_ unit: String, separator: String) {
            let joined = current.isEmpty ? unit : current + separator + unit
            if joined.utf8.count <= maxBytes {
                current = joined
                return
            }
            flush()
            if unit.utf8.count <= maxBytes {
                current = unit
                return
            }
            // Too big on its own: the next finer separator.
            switch separator {
            case "\n\n": for line in unit.components(separatedBy: "\n") { add(line, separator: "\n") }
            case "\n": for word in unit.components(separatedBy: " ") { add(word, separator: " ") }
            default:
                var piece = ""
                for character in unit {
                    if (piece + String(character)).utf8.count > maxBytes {
                        pieces.append(piece)
                        piece = ""
                    }
                    piece.append(character)
                }
                current = piece
            }
        }
        for paragraph in text.components(separatedBy: "\n\n") { add(paragraph, separator: "\n\n") }
        flush()
        return pieces
    }
}
