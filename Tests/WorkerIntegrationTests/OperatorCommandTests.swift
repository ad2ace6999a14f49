import Foundation
import GigaChatEmulator
import TestSupport
import Testing
import WireFormat
import Worker

/// `submit` -> `run` -> `collect` through the built binary, as an operator runs them.
@Suite("Operator commands end to end", .serialized, .timeLimit(.minutes(3)))
struct OperatorCommandTests {
    /// Runs `gigachat-worker <arguments>` to completion; its status and output (stdout and stderr together).
    static func cli(_ arguments: [String], environment: [String: String], in directory: URL) async throws -> (
        Int32?, String
    ) {
        let log = directory.appendingPathComponent("cli-\(UUID().uuidString.prefix(6)).log")
        var environment = environment
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"]
        let process = try SpawnedProcess.start(
            WorkerProcess.executable.path,
            arguments,
            environment: environment,
            stdout: log.path,
            stderr: log.path
        )
        let status = await process.wait(timeout: .seconds(120))
        let output = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
        return (status, output)
    }

    /// `gigachat-worker submit` onto the bed's jobs topic, with `arguments` after the connection flags.
    static func submit(_ bed: WorkerTestBed, _ arguments: [String], environment: [String: String], in directory: URL)
        async throws -> (Int32?, String)
    {
        try await cli(
            ["submit", "--bootstrap-servers", bed.bootstrap, "--topic", bed.topics.jobs] + arguments,
            environment: environment,
            in: directory
        )
    }

    /// `gigachat-worker collect` of a manifest's jobs from the bed's completions topic into `output` (90 s at most).
    static func collect(
        _ bed: WorkerTestBed,
        manifest: String,
        output: String,
        environment: [String: String],
        in directory: URL
    ) async throws -> (Int32?, String) {
        try await cli(
            [
                "collect", "--bootstrap-servers", bed.bootstrap, "--completions-topic", bed.topics.completions,
                "--manifest", manifest, "--output", output, "--timeout", "90",
            ],
            environment: environment,
            in: directory
        )
    }

    /// A run's working directory: a fresh temporary one, its `docs` folder (made) for the documents, and where the
    /// manifest and the results go.
    struct RunDirectory {
        let directory: URL
        let documents: URL
        var manifest: String { directory.appendingPathComponent("manifest.jsonl").path }
        var results: String { directory.appendingPathComponent("results.jsonl").path }

        init(_ prefix: String) throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
            documents = directory.appendingPathComponent("docs")
            try FileManager.default.createDirectory(at: documents, withIntermediateDirectories: true)
        }
    }

    /// The completions a `collect` wrote.
    static func records(in results: String) throws -> [CompletionRecord] {
        try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n").map {
            try JSONDecoder().decode(CompletionRecord.self, from: Data($0.utf8))
        }
    }

    @Test func submitRunCollectAnswersEveryDocumentAndAResubmitAddsNoJobs() async throws {
        try await WorkerTestBed.run { bed in
            let run = try RunDirectory("operator")
            let (directory, documents, manifest, results) = (run.directory, run.documents, run.manifest, run.results)
            let texts = [
                "kafka.txt": "Kafka keeps an ordered log per partition.",
                "swift.txt": "Swift runs on Linux servers.",
                "privet.txt": "Привет! Это короткий документ на русском языке.",
            ]
            for (name, text) in texts { try Data(text.utf8).write(to: documents.appendingPathComponent(name)) }
            let environment = bed.environment()
            let submitArguments = [
                "submit", "--bootstrap-servers", bed.bootstrap, "--topic", bed.topics.jobs,
                "--template", "Summarise {{filename}}: {{document}}", "--manifest", manifest, documents.path,
            ]
            let (submitted, submitOutput) = try await Self.cli(submitArguments, environment: environment, in: directory)
            #expect(submitted == 0, "\(submitOutput)")
            #expect(submitOutput.contains("submitted 3 jobs"), "\(submitOutput)")

            let worker = try WorkerProcess.start(environment: environment)
            let (collected, collectOutput) = try await Self.collect(
                bed,
                manifest: manifest,
                output: results,
                environment: environment,
                in: directory
            )
            #expect(collected == 0, "\(collectOutput)\n\(worker.logTail())")
            #expect(collectOutput.contains("3 of 3 results"), "\(collectOutput)")
            // Without a terminal: one plain line per completion, no escape codes.
            #expect(!collectOutput.contains("\u{1B}["), "\(collectOutput)")
            let lines = try String(contentsOfFile: results, encoding: .utf8).split(separator: "\n")
            let records = try lines.map { try JSONDecoder().decode(CompletionRecord.self, from: Data($0.utf8)) }
            #expect(records.count == 3 && records.allSatisfy { $0.status == .ok })
            #expect(records.contains { $0.content?.contains("Привет! Это короткий документ") == true })

            // The same documents again: every id is in the manifest, nothing is produced.
            let callsBefore = bed.emulator.counters.chatCalls
            let (again, againOutput) = try await Self.cli(submitArguments, environment: environment, in: directory)
            #expect(again == 0 && againOutput.contains("submitted 0 jobs"), "\(againOutput)")
            #expect(againOutput.contains("3 already in"), "\(againOutput)")
            try await Task.sleep(for: .seconds(2))
            #expect(bed.emulator.counters.chatCalls == callsBefore, "no new job ran")

            // collect of an id that never comes: exit 1, naming it.
            let (missing, missingOutput) = try await Self.cli(
                [
                    "collect", "--bootstrap-servers", bed.bootstrap, "--completions-topic", bed.topics.completions,
                    "--ids", "never-submitted", "--output", results, "--timeout", "3",
                ],
                environment: environment,
                in: directory
            )
            #expect(missing == 1 && missingOutput.contains("missing after 3 s: never-submitted"), "\(missingOutput)")
            worker.kill(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(40)) == 0)
        }
    }

    /// A bulk run as the docs advise it: one template, the shared instructions as a system message. The worker gives
    /// the jobs one session (`cache.session_id` prefix), so GigaChat's prefix cache serves the instructions, and
    /// `collect` reports the cached tokens.
    @Test func fiftyDocumentsWithOneTemplateReportCachedTokensInTheSummary() async throws {
        try await WorkerTestBed.run { bed in
            let run = try RunDirectory("cache")
            let (directory, documents, manifest, results) = (run.directory, run.documents, run.manifest, run.results)
            for index in 0..<50 {
                try Data("Contract \(index): the parties agree on item \(index).".utf8)
                    .write(to: documents.appendingPathComponent("contract-\(index).txt"))
            }
            let system = "You are a careful lawyer. Extract the parties, the subject and the dates of the contract."
            let systemTokens = GigaChatEmulator.tokenCount(of: system)
            let environment = bed.environment()
            let (submitted, submitOutput) = try await Self.submit(
                bed,
                [
                    "--system", system,
                    "--template", "Contract {{filename}}:\n{{document}}", "--manifest", manifest, documents.path,
                ],
                environment: environment,
                in: directory
            )
            #expect(submitted == 0 && submitOutput.contains("submitted 50 jobs"), "\(submitOutput)")
            let worker = try WorkerProcess.start(environment: environment)
            let (collected, collectOutput) = try await Self.collect(
                bed,
                manifest: manifest,
                output: results,
                environment: environment,
                in: directory
            )
            #expect(collected == 0, "\(collectOutput)\n\(worker.logTail())")
            let records = try Self.records(in: results)
            #expect(records.count == 50 && records.allSatisfy { $0.status == .ok })
            let cached = records.reduce(0) { $0 + ($1.usage?.precachedPromptTokens ?? 0) }
            // One call fills the cache; the others find the instructions in it.
            #expect(cached >= 45 * systemTokens, "cached \(cached) of \(50 * systemTokens)")
            #expect(collectOutput.contains("(cached \(cached))"), "\(collectOutput)")
            #expect(bed.emulator.counters.cachedPromptTokens == cached)
            worker.kill(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(40)) == 0)
        }
    }

    /// Documents as files: `submit --attach` uploads 20 files of four types with the workers' account, the jobs
    /// carry their ids, each answer shows its own file reached the model, and `collect` deletes the files of the
    /// answered jobs. An oversize file is refused before anything is uploaded, naming the limit.
    @Test func twentyFilesOfFourTypesReachTheModelAndAreDeletedOnceAnswered() async throws {
        try await WorkerTestBed.run { bed in
            let run = try RunDirectory("files")
            let (directory, documents, manifest, results) = (run.directory, run.documents, run.manifest, run.results)
            var files: [String: [UInt8]] = [:]
            for index in 0..<5 {
                files["note-\(index).txt"] = Array("Заметка \(index): поставка в срок.".utf8)
                files["contract-\(index).pdf"] = Array("%PDF-1.4\n% contract \(index)\n%%EOF\n".utf8)
                files["scan-\(index).png"] =
                    [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, UInt8(index)]
                    + Array(repeating: 7, count: 100 * index)
                files["call-\(index).mp3"] =
                    [0x49, 0x44, 0x33, 0x04, UInt8(index)] + Array(repeating: 1, count: 50 * index)
            }
            for (name, bytes) in files { try Data(bytes).write(to: documents.appendingPathComponent(name)) }
            let environment = bed.environment()

            // One file over its kind's limit: nothing at all is uploaded, and the message names the limit.
            let oversize = directory.appendingPathComponent("big")
            try FileManager.default.createDirectory(at: oversize, withIntermediateDirectories: true)
            try Data("fine".utf8).write(to: oversize.appendingPathComponent("a.txt"))
            try Data(count: 15_000_001).write(to: oversize.appendingPathComponent("photo.png"))
            let (refused, refusedOutput) = try await Self.submit(
                bed,
                [
                    "--attach",
                    "--template", "Describe {{filename}}", "--manifest", manifest, oversize.path,
                ],
                environment: environment,
                in: directory
            )
            #expect(refused == 2, "\(refusedOutput)")
            #expect(refusedOutput.contains("photo.png: 15000001 bytes, over the 15 MB"), "\(refusedOutput)")
            #expect(refusedOutput.contains("nothing was uploaded"), "\(refusedOutput)")
            #expect(bed.emulator.counters.fileCalls == 0, "no upload before the check")

            let (submitted, submitOutput) = try await Self.submit(
                bed,
                [
                    "--attach",
                    "--template", "Extract the key facts from {{filename}}", "--manifest", manifest, documents.path,
                ],
                environment: environment,
                in: directory
            )
            #expect(submitted == 0, "\(submitOutput)")
            #expect(
                submitOutput.contains("uploaded 20 files") && submitOutput.contains("submitted 20 jobs"),
                "\(submitOutput)"
            )
            #expect(bed.emulator.counters.uploadedFiles == 20)
            // Again: every document is in the manifest, nothing is uploaded or produced.
            let (again, againOutput) = try await Self.submit(
                bed,
                [
                    "--attach",
                    "--template", "Extract the key facts from {{filename}}", "--manifest", manifest, documents.path,
                ],
                environment: environment,
                in: directory
            )
            #expect(
                again == 0 && againOutput.contains("submitted 0 jobs") && againOutput.contains("20 already in"),
                "\(againOutput)"
            )
            #expect(bed.emulator.counters.uploadedFiles == 20)

            let worker = try WorkerProcess.start(environment: environment)
            let (collected, collectOutput) = try await Self.collect(
                bed,
                manifest: manifest,
                output: results,
                environment: environment,
                in: directory
            )
            #expect(collected == 0, "\(collectOutput)\n\(worker.logTail())")
            let records = try Self.records(in: results)
            #expect(records.count == 20 && records.allSatisfy { $0.status == .ok })
            for record in records {
                guard case .object(let metadata)? = record.metadata, case .string(let path)? = metadata["filename"]
                else {
                    Issue.record("\(record.id) has no filename in its metadata")
                    continue
                }
                let name = (path as NSString).lastPathComponent
                let note = GigaChatEmulator.fileNote(filename: name, contents: files[name] ?? [])
                #expect(record.content?.hasSuffix(note) == true, "\(name): \(record.content ?? "-")")
            }
            #expect(collectOutput.contains("deleted 20 uploaded files"), "\(collectOutput)")
            #expect(bed.emulator.counters.deletedFiles == 20)
            worker.kill(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(40)) == 0)
        }
    }

    @Test func configPrintShowsSourcesAndRedactsSecretsAndCheckNamesTheInvalidKey() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let file = directory.appendingPathComponent("worker.yaml")
        try Data("kafka:\n  bootstrap_servers: broker-from-file:9092\nconcurrency: 7\n".utf8).write(to: file)
        let secret = Data("client:very-secret-value".utf8).base64EncodedString()
        let environment = ["GIGACHAT_CREDENTIALS": secret, "GIGACHAT_WORKER_CONCURRENCY": "12"]
        let (status, output) = try await Self.cli(
            ["config", "print", "--config", file.path, "--set", "partials.interval=50ms"],
            environment: environment,
            in: directory
        )
        #expect(status == 0, "\(output)")
        let rows = Dictionary(
            output.split(separator: "\n").map { line in
                let parts = line.split(separator: " ", omittingEmptySubsequences: true)
                return (String(parts[0]), parts.dropFirst().joined(separator: " "))
            },
            uniquingKeysWith: { $1 }
        )
        #expect(rows["kafka.bootstrap_servers"] == "broker-from-file:9092 (file)")
        #expect(rows["concurrency"] == "12 (environment)")
        #expect(rows["partials.interval"] == "50ms (flag)")
        #expect(rows["retry.max_attempts"] == "10 (default)")
        #expect(rows["gigachat.credentials"] == "<redacted> (environment)")
        #expect(!output.contains(secret) && !output.contains("very-secret-value"))

        let (invalid, invalidOutput) = try await Self.cli(
            ["config", "check", "--config", file.path, "--set", "concurrency=0"],
            environment: [:],
            in: directory
        )
        #expect(invalid == 2, "\(invalidOutput)")
        #expect(invalidOutput.contains("concurrency"), "\(invalidOutput)")
        let (valid, validOutput) = try await Self.cli(
            ["config", "check", "--config", file.path],
            environment: environment,
            in: directory
        )
        #expect(valid == 0 && validOutput.contains("configuration ok"), "\(validOutput)")
    }

    /// Runs `tmux -L socket <arguments>`; its output.
    static func tmux(_ socket: String, _ arguments: [String], in directory: URL) async throws -> String {
        let log = directory.appendingPathComponent("tmux-\(UUID().uuidString.prefix(6)).out")
        let process = try SpawnedProcess.start(
            "/usr/bin/tmux",
            ["-L", socket] + arguments,
            environment: ["PATH": "/usr/bin:/bin", "TERM": "xterm-256color"],
            stdout: log.path,
            stderr: log.path
        )
        _ = await process.wait(timeout: .seconds(10))
        return String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
    }

    @Test func collectInATerminalDrawsTheProgressBarAndTheLivePartials() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.chunkDelay = .milliseconds(150)
        emulator.chunkCount = 20
        try await WorkerTestBed.run(emulator: emulator) { bed in
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("tmux-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            let jobs = (0..<3).map { TestJob(id: "tty-\($0)", prompt: "terminal job number \($0)", stream: true) }
            let socket = "gw-test-\(UUID().uuidString.prefix(8))"
            let command = [
                "env", "LD_LIBRARY_PATH=\(ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"] ?? "")",
                WorkerProcess.executable.path, "collect", "--bootstrap-servers", bed.bootstrap,
                "--completions-topic", bed.topics.completions, "--partials-topic", bed.topics.partials,
                "--ids", jobs.map(\.id).joined(separator: ","), "--follow-partials",
                "--output", directory.appendingPathComponent("results.jsonl").path, "--timeout", "60",
            ].joined(separator: " ")
            _ = try await Self.tmux(
                socket,
                ["new-session", "-d", "-s", "collect", "-x", "160", "-y", "50", command + "; sleep 60"],
                in: directory
            )
            defer { Task { _ = try? await Self.tmux(socket, ["kill-server"], in: directory) } }
            let worker = try bed.startWorker(bed.configuration())
            try await bed.produce(jobs)
            var sawLivePartial = false
            var screen = ""
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                screen = try await Self.tmux(socket, ["capture-pane", "-p", "-t", "collect"], in: directory)
                // Streamed text on the screen before its job's completion line: live partials.
                if screen.contains("[tty-"), screen.contains("attempt 1]"), screen.contains("Echo:"),
                    !screen.contains("ok 3")
                {
                    sawLivePartial = true
                }
                if screen.contains("3 of 3 results") { break }
                try await Task.sleep(for: .milliseconds(200))
            }
            _ = try await Self.tmux(socket, ["kill-server"], in: directory)
            #expect(sawLivePartial, "\(screen)")
            #expect(screen.contains("ok 3  failed 0  waiting 0"), "\(screen)")
            #expect(
                screen.contains("waiting 0") && screen.contains("[=========================]"),
                "a full bar: \(screen)"
            )
            #expect(
                screen.contains("waiting 2") && screen.contains("[========                 ]"),
                "a third: \(screen)"
            )
            #expect(screen.contains("3 of 3 results"), "\(screen)")
            try await worker.stop()
        }
    }
}
