import ArgumentParser
import Batch
import ConsoleKitTerminal
import Foundation
import GigaChat
import Logging
import WireFormat

/// `gigachat-worker collect`: reads completions until every expected id is back (or the timeout), writes them.
struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Read completions until every expected job is answered; write them as JSONL.",
        discussion: """
            The expected ids come from a submit manifest (--manifest) or --ids. The completions topic is read by \
            a consumer group of its own (nothing is committed) from --since: by default from 10 minutes before \
            the manifest's first submission, or from the topic's beginning without one. The last completion of \
            an id wins. On a terminal a progress bar shows ok / failed / waiting and the rate; otherwise one plain \
            line per completion. --follow-partials prints streamed answers as they arrive. Files that `submit \
            --attach` uploaded are deleted from GigaChat's storage once their jobs have their completions (with the \
            account in GIGACHAT_*; --keep-files keeps them; a file that cannot be deleted makes the exit status 1). Exits 1 when a job failed or is still missing at \
            --timeout, naming them.
            """
    )

    @OptionGroup var kafka: KafkaClientOptions

    @Option(help: "The completions topic.")
    var completionsTopic =
        ProcessInfo.processInfo.environment["GIGACHAT_WORKER_TOPICS_COMPLETIONS"] ?? "gigachat.completions"

    @Option(help: "The partials topic (with --follow-partials).")
    var partialsTopic = ProcessInfo.processInfo.environment["GIGACHAT_WORKER_TOPICS_PARTIALS"] ?? "gigachat.partials"

    @Option(help: "A submit manifest whose ids to wait for.")
    var manifest: String?

    @Option(help: "Ids to wait for, comma-separated (with or instead of --manifest).")
    var ids: String?

    @Option(
        help: """
            Read completions from this time on: an RFC 3339 time or a span back from now (90s, 30m, 2h, 7d). \
            Default: 10 minutes before the manifest's first submission, else the topic's beginning.
            """
    )
    var since: String?

    @Option(help: "Where to write the results (JSONL).")
    var output = "gigachat-results.jsonl"

    @Option(help: "Result lines: jobs (the completions as published) or openai (Batch API output lines).")
    var format = "jobs"

    @Option(help: "Give up after this many seconds.")
    var timeout: Double = 600

    @Flag(help: "Print streamed partials as they arrive.")
    var followPartials = false

    @Flag(help: "Keep the files `submit --attach` uploaded (by default those of finished jobs are deleted).")
    var keepFiles = false

    @OptionGroup var gigachat: GigaChatConnectionOptions

    func validate() throws {
        guard ResultFormat(rawValue: format) != nil else { throw ValidationError("--format must be jobs or openai") }
        guard manifest != nil || ids != nil else {
            throw ValidationError("say which jobs to wait for: --manifest or --ids")
        }
        if let since, ReadingStart.parse(since) == nil {
            throw ValidationError(
                "--since must be an RFC 3339 time (2026-11-26T09:00:00Z) or a span such as 90s, 30m, 2h, 7d"
            )
        }
    }

    func run() async throws {
        var expected: [String] = []
        var readFrom = since.flatMap { ReadingStart.parse($0) }
        if let manifest {
            do {
                let entries = SubmitManifest(path: manifest)
                expected += try entries.ids()
                if readFrom == nil, let first = try entries.firstSubmission() {
                    readFrom = ReadingStart.forManifest(firstSubmission: first)
                }
            } catch {
                CLIOutput.writeError("error: \(error)\n")
                throw ExitCode(2)
            }
        }
        if let ids { expected += ids.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        var results = CollectedResults(expected: expected)
        var logger = Logger(label: "gigachat-worker.collect")
        logger.logLevel = .error
        let reader = try CompletionReader(
            bootstrapServers: kafka.servers,
            properties: try kafka.properties(),
            completionsTopic: completionsTopic,
            partialsTopic: followPartials ? partialsTopic : nil,
            since: readFrom,
            logger: logger
        )
        let interactive = TerminalOutput.isInteractive
        // On a terminal: an animated progress bar; while partials stream, a bar line after each completion instead
        // (an animated bar would redraw over the streamed text).
        let console = interactive ? Terminal() : nil
        let bar = interactive && !followPartials ? console?.progressBar(title: Self.title(results, rate: 0)) : nil
        bar?.start(refreshRate: 10)
        let start = ContinuousClock.now
        let deadline = start + .milliseconds(Int64(timeout * 1000))
        let display = Display(console: console, bar: bar, start: start)
        results = try await reader.collect(results, until: deadline, observer: display)
        if results.isComplete, results.failed == 0 { bar?.succeed() } else { bar?.fail() }
        await reader.close()
        let lines = results.lines(format: ResultFormat(rawValue: format) ?? .jobs)
        let text = lines.isEmpty ? "" : lines.joined(separator: "\n") + "\n"
        try Data(text.utf8).write(to: URL(fileURLWithPath: output))
        let elapsed = (ContinuousClock.now - start).secondsDouble
        CLIOutput.write(
            "\(results.latest.count) of \(results.expected.count) results in \(output): ok \(results.ok), failed "
                + "\(results.failed), missing \(results.waiting) (\(String(format: "%.1f", elapsed)) s)\n"
        )
        let summary = results.summary
        func ms(_ value: Int?) -> String { value.map { "\($0) ms" } ?? "-" }
        CLIOutput.write(
            "jobs \(summary.jobs): ok \(summary.ok), failed \(summary.failed), missing \(summary.missing)\n"
                + "tokens: prompt \(summary.promptTokens) (cached \(summary.cachedTokens)), completion "
                + "\(summary.completionTokens)\n"
                + "latency: p50 \(ms(summary.latencyP50)), p99 \(ms(summary.latencyP99)); time to first token: p50 "
                + "\(ms(summary.timeToFirstTokenP50)), p99 \(ms(summary.timeToFirstTokenP99))\n"
                + "throughput: \(String(format: "%.2f", Double(results.latest.count) / max(elapsed, 0.001))) jobs/s while collecting\n"
        )
        var problems = false
        if !keepFiles, !(await deleteUploadedFiles(of: results)) { problems = true }
        if !results.failedIDs.isEmpty {
            problems = true
            CLIOutput.writeError("failed: \(Self.list(results.failedIDs))\n")
        }
        if !results.missing.isEmpty {
            problems = true
            CLIOutput.writeError("missing after \(Int(timeout)) s: \(Self.list(results.missing))\n")
        }
        if problems { throw ExitCode.failure }
    }

    /// Deletes the files of the jobs that have their completion (`metadata.gigachat_file_id`, set by `submit
    /// --attach`; kept through an `output_too_large` replacement): the job is over, and a re-run of the same document
    /// is skipped by the manifest. Without GigaChat credentials they are kept, with a note.
    /// - Returns: Whether every file is gone (deleted now, or already).
    private func deleteUploadedFiles(of results: CollectedResults) async -> Bool {
        let files = results.latest.values.compactMap { UploadedFileMetadata.fileID(in: $0.record.metadata) }
        guard !files.isEmpty else { return true }
        guard (try? GigaChatConfiguration.fromEnvironment().validate()) != nil else {
            CLIOutput.write("kept \(files.count) uploaded files: no GigaChat credentials here to delete them\n")
            return true
        }
        var deleted = 0
        var missing = 0
        var failures: [String] = []
        do {
            try await gigachat.withClient { client in
                for id in files {
                    do {
                        if try await client.deleteFile(id: id) {
                            deleted += 1
                        } else {
                            failures.append("\(id): not deleted")
                        }
                    } catch let error as GigaChatError where error.httpStatus == 404 {
                        missing += 1
                    } catch {
                        failures.append("\(id): \(error)")
                    }
                }
            }
        } catch {
            return false  // the client could not be made: withClient said why
        }
        CLIOutput.write(
            "deleted \(deleted) uploaded files of answered jobs"
                + (missing > 0 ? "; \(missing) not found (deleted before, or another account's)" : "") + "\n"
        )
        for failure in failures.prefix(5) { CLIOutput.writeError("could not delete \(failure)\n") }
        return failures.isEmpty
    }

    static func title(_ results: CollectedResults, rate: Double) -> String {
        "ok \(results.ok)  failed \(results.failed)  waiting \(results.waiting)  \(String(format: "%.1f", rate))/s"
    }

    static func list(_ ids: [String]) -> String {
        ids.prefix(20).joined(separator: ", ") + (ids.count > 20 ? " and \(ids.count - 20) more" : "")
    }

    /// What the terminal (or the plain output) shows of each completion and partial.
    private struct Display: CompletionObserver {
        let console: Terminal?
        let bar: ActivityIndicator<ProgressBar>?
        let start: ContinuousClock.Instant
        /// The attempt whose streamed text is being printed.
        var streaming: String?

        init(console: Terminal?, bar: ActivityIndicator<ProgressBar>?, start: ContinuousClock.Instant) {
            self.console = console
            self.bar = bar
            self.start = start
        }

        mutating func completion(_ record: CompletionRecord, results: CollectedResults) {
            let rate = Double(results.latest.count) / max((ContinuousClock.now - start).secondsDouble, 0.001)
            let progress = Double(results.latest.count) / Double(results.expected.count)
            if let bar {
                bar.activity.title = CollectCommand.title(results, rate: rate)
                bar.activity.currentProgress = progress
            } else if let console {
                // A line of its own: the counts and a bar (below the streamed text).
                console.output(
                    (streaming == nil ? "" : "\n") + CollectCommand.title(results, rate: rate) + " ",
                    style: .plain,
                    newLine: false
                )
                streaming = nil
                var line = console.progressBar(title: "").activity
                line.currentProgress = progress
                console.output(line.renderActiveBar(tick: 0, width: 25))
            } else {
                CLIOutput.write(
                    "\(record.id) \(record.status.rawValue)\(record.error.map { " \($0.code)" } ?? "") "
                        + "(\(results.latest.count)/\(results.expected.count), ok \(results.ok), failed \(results.failed), "
                        + "waiting \(results.waiting))\n"
                )
            }
        }

        mutating func partial(_ partial: PartialRecord) {
            if streaming != partial.attemptID {
                streaming = partial.attemptID
                let header = "\n[\(partial.id) attempt \(partial.attempt)] "
                if let console {
                    console.output(header, style: .info, newLine: false)
                } else {
                    CLIOutput.write(header)
                }
            }
            CLIOutput.write(partial.delta)
        }
    }
}
