import ArgumentParser
import Batch
import ConsoleKitTerminal
import Foundation
import GigaChat
import Logging
import WireFormat

/// `gigachat-worker submit`: JSONL jobs or documents onto the jobs topic, each acknowledged by the broker.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Put jobs on the jobs topic: JSONL lines, or documents with a prompt template.",
        discussion: """
            JSONL input (one job a line) is the worker's own format {"id","messages",...}, OpenAI's Batch API \
            input {"custom_id","method","url","body"} or GigaChat's /batches input {"id","request"}, detected per \
            file or chosen with --format. With --template the inputs are documents (files, folders, globs): \
            one job each, {{document}} and {{filename}} replaced, the id derived from the path and the content. \
            Acknowledged ids are appended to the manifest; a re-run skips them (so it is idempotent), and \
            `collect --manifest` waits for them. With --attach each document (PDF, DOCX, TXT, images, audio) is \
            uploaded to GigaChat's file storage with the account in GIGACHAT_* (every file's type and size checked \
            first: nothing is uploaded when one fails) and attached to its job instead of pasted into the prompt; \
            `collect` deletes the files of the jobs it finds answered. Exits 1 when any record was not \
            acknowledged.
            """
    )

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "The jobs topic.")
    var topic = ProcessInfo.processInfo.environment["GIGACHAT_WORKER_TOPICS_JOBS"] ?? "gigachat.jobs"

    @Option(help: "JSONL format: auto, jobs, openai or gigachat.")
    var format = "auto"

    @Option(help: "A prompt template for documents: {{document}} and {{filename}} are replaced.")
    var template: String?

    @Option(help: "A system message for documents.")
    var system: String?

    @Option(help: "The model (replaces the one in the input).")
    var model: String?

    @Flag(help: "Stream the answers (partials).")
    var stream = false

    @Option(
        name: .customLong("option"),
        help: ArgumentHelp(
            "A chat option for documents, e.g. --option temperature=0.2 (JSON values).",
            valueName: "key=value"
        )
    )
    var options: [String] = []

    @Option(help: "The largest document, in bytes.")
    var maxDocumentBytes = 64 << 10

    @Flag(help: "Split larger documents into parts instead of refusing them.")
    var split = false

    @Flag(help: "Upload each document to GigaChat's file storage and attach it (PDF, DOCX, TXT, images, audio).")
    var attach = false

    @OptionGroup var gigachat: GigaChatConnectionOptions

    @Option(help: "The manifest of acknowledged ids (read to skip, appended to).")
    var manifest = "gigachat-submit.manifest.jsonl"

    @Argument(help: "JSONL files, or documents with --template (files, folders, globs); - reads JSONL from stdin.")
    var inputs: [String]

    func validate() throws {
        if template == nil, format != "auto", BatchLineFormat(rawValue: format) == nil {
            throw ValidationError("--format must be auto, jobs, openai or gigachat")
        }
        if template == nil, !options.isEmpty { throw ValidationError("--option applies to documents (--template)") }
        if attach {
            guard let template else {
                throw ValidationError("--attach needs --template: the prompt the file goes with")
            }
            if template.contains("{{document}}") {
                throw ValidationError(
                    "--attach sends each document as a file: the template may name {{filename}}, not {{document}}"
                )
            }
            if split { throw ValidationError("--attach sends whole files; --split applies to pasted documents") }
        }
    }

    func run() async throws {
        let jobs: [BatchJob]
        var skippedFiles = 0
        do {
            if attach {
                (jobs, skippedFiles) = try await readAttachedDocuments(
                    skipping: Set(try SubmitManifest(path: self.manifest).ids())
                )
            } else {
                jobs = try template == nil ? readLines() : readDocuments()
            }
        } catch let error as BatchInputError {
            CLIOutput.writeError("error: \(error.message)\n")
            throw ExitCode(2)
        }
        var duplicates = Set<String>()
        var seen = Set<String>()
        for job in jobs where !seen.insert(job.id).inserted { duplicates.insert(job.id) }
        if !duplicates.isEmpty {
            CLIOutput.writeError(
                "error: ids appear more than once: \(duplicates.sorted().prefix(5).joined(separator: ", "))\n"
            )
            throw ExitCode(2)
        }
        let manifest = SubmitManifest(path: self.manifest)
        let already = Set(try manifest.ids())
        let pending = jobs.filter { !already.contains($0.id) }
        var logger = Logger(label: "gigachat-worker.submit")
        logger.logLevel = .error
        let submitter: JobSubmitter
        do {
            submitter = try JobSubmitter(
                bootstrapServers: kafka.servers,
                properties: try kafka.properties(),
                logger: logger
            )
        } catch {
            if attach { try? await gigachat.withClient { await Self.deleteFiles(of: pending, with: $0) } }
            throw error
        }
        let console = TerminalOutput.isInteractive ? Terminal() : nil
        let bar = console?.progressBar(title: "submitting \(pending.count) jobs")
        bar?.start()
        let start = ContinuousClock.now
        let submittedAt = Date()
        let outcome = await submitter.submit(pending, to: topic) { answered in
            bar?.activity.currentProgress = Double(answered) / Double(max(1, pending.count))
        }
        let acknowledged = outcome.acknowledged.map { (id: $0.id, partition: $0.partition, offset: $0.offset) }
        let failures = outcome.failures
        if failures.isEmpty { bar?.succeed() } else { bar?.fail() }
        try manifest.append(acknowledged, submittedAt: submittedAt)
        let seconds = (ContinuousClock.now - start).secondsDouble
        CLIOutput.write(
            "submitted \(acknowledged.count) jobs to \(topic) in \(String(format: "%.1f", seconds)) s"
                + (jobs.count - pending.count + skippedFiles > 0
                    ? "; \(jobs.count - pending.count + skippedFiles) already in \(self.manifest), skipped" : "")
                + "; manifest: \(self.manifest)\n"
        )
        if !failures.isEmpty {
            if attach {
                // Their files would stay in storage with nothing to delete them: delete them now.
                let unacknowledged = Set(failures.map(\.0))
                try? await gigachat.withClient { client in
                    await Self.deleteFiles(of: pending.filter { unacknowledged.contains($0.id) }, with: client)
                }
            }
            for (id, error) in failures.prefix(10) { CLIOutput.writeError("not acknowledged: \(id): \(error)\n") }
            CLIOutput.writeError("error: \(failures.count) of \(pending.count) jobs were not acknowledged by Kafka\n")
            throw ExitCode.failure
        }
    }

    private func readLines() throws -> [BatchJob] {
        var jobs: [BatchJob] = []
        for input in inputs {
            let data: Data
            if input == "-" {
                data = FileHandle.standardInput.readDataToEndOfFile()
            } else {
                guard let contents = FileManager.default.contents(atPath: input) else {
                    throw BatchInputError("\(input): cannot read the file")
                }
                data = contents
            }
            var fileFormat = BatchLineFormat(rawValue: format)
            for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
                .enumerated()
            {
                let trimmed = line.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }
                guard !trimmed.isEmpty else { continue }
                let value: JSONValue
                do {
                    value = try JSONValue(parsing: line)
                } catch {
                    throw BatchInputError("\(input): line \(index + 1): \(error)")
                }
                if fileFormat == nil {
                    guard case .object(let object) = value, let detected = BatchLineFormat.detect(object) else {
                        throw BatchInputError(
                            "\(input): line \(index + 1): not a job, an OpenAI batch line or a GigaChat batch line (say --format)"
                        )
                    }
                    fileFormat = detected
                }
                do {
                    jobs.append(
                        try fileFormat!.job(from: value, number: index + 1, model: model, stream: stream ? true : nil)
                    )
                } catch let error as BatchInputError {
                    throw BatchInputError("\(input): \(error.message)")
                }
            }
        }
        return jobs
    }

    /// `--attach`: every document checked (type, size) before any upload, then the ones not yet submitted uploaded,
    /// each becoming a job with its file attached. A document is read when its id is made and again when it is
    /// uploaded, never all at once. If an upload fails, the files uploaded before it are deleted again.
    /// - Returns: The jobs, and how many documents were skipped as already submitted.
    private func readAttachedDocuments(skipping already: Set<String>) async throws -> ([BatchJob], Int) {
        let documents = DocumentJobs(
            template: template ?? "",
            system: system,
            model: model,
            stream: stream ? true : nil,
            options: try chatOptions()
        )
        var pending: [(path: String, id: String)] = []
        var refused: [String] = []
        var skipped = 0
        for path in try DocumentJobs.files(inputs) {
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
            guard let size else { throw BatchInputError("\(path): cannot read the file") }
            do {
                _ = try GigaChatFileKind.check(filename: path, bytes: size)
            } catch let error as GigaChatError {
                refused.append(error.message)
                continue
            }
            guard refused.isEmpty else { continue }  // nothing more to read once one is refused
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw BatchInputError("\(path): cannot read the file")
            }
            let id = DocumentJobs.id(path: path, contents: contents)
            if already.contains(id) { skipped += 1 } else { pending.append((path, id)) }
        }
        guard refused.isEmpty else {
            throw BatchInputError(refused.joined(separator: "\n") + "\nnothing was uploaded")
        }
        var jobs: [BatchJob] = []
        guard !pending.isEmpty else { return ([], skipped) }
        try await gigachat.withClient { client in
            do {
                for item in pending {
                    guard let contents = FileManager.default.contents(atPath: item.path) else {
                        throw BatchInputError("\(item.path): cannot read the file")
                    }
                    let name = (item.path as NSString).lastPathComponent
                    let file = try await client.uploadFile(Array(contents), filename: name)
                    jobs.append(documents.attachedJob(path: item.path, contents: contents, fileID: file.id))
                }
            } catch {
                await Self.deleteFiles(of: jobs, with: client)
                throw error
            }
        }
        CLIOutput.write("uploaded \(jobs.count) files to GigaChat\n")
        return (jobs, skipped)
    }

    /// Deletes the files `submit --attach` uploaded for `jobs` (best effort: they would be unreferenced).
    static func deleteFiles(of jobs: [BatchJob], with client: GigaChatClient) async {
        for job in jobs {
            guard case .object(let value) = job.value, let id = UploadedFileMetadata.fileID(in: value["metadata"])
            else { continue }
            _ = try? await client.deleteFile(id: id)
        }
    }

    private func chatOptions() throws -> [String: JSONValue] {
        var chatOptions: [String: JSONValue] = [:]
        for option in options {
            guard let equals = option.firstIndex(of: "=") else { throw BatchInputError("--option takes key=value") }
            let text = String(option[option.index(after: equals)...])
            chatOptions[String(option[..<equals])] = (try? JSONValue(parsing: Array(text.utf8))) ?? .string(text)
        }
        return chatOptions
    }

    private func readDocuments() throws -> [BatchJob] {
        let chatOptions = try chatOptions()
        let documents = DocumentJobs(
            template: template ?? "{{document}}",
            system: system,
            model: model,
            stream: stream ? true : nil,
            options: chatOptions,
            maxDocumentBytes: maxDocumentBytes,
            split: split
        )
        var jobs: [BatchJob] = []
        for path in try DocumentJobs.files(inputs) {
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw BatchInputError("\(path): cannot read the file")
            }
            jobs += try documents.jobs(path: path, contents: contents)
        }
        return jobs
    }
}
