import Foundation
import GigaChat
import GigaChatEmulator
import Logging
import NIOCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Benchmarks of the GigaChat client.
///
/// - `sse`: throughput of the real ``SSEParser`` on a synthetic GigaChat stream body in the recorded shape
///   (``GigaChatSSEInput``), fed in `ByteBuffer` pieces; and of the client's whole chunk path (parse, then
///   `JSONDecoder` into ``ChatChunk`` exactly as `ChatStream` does). Environment: `GIGACHAT_BENCH_SSE_MIB` (64),
///   `GIGACHAT_BENCH_DECODE_MIB` (16), `GIGACHAT_BENCH_RUNS` (7; best and median are reported).
/// - `streams`: many concurrent streams through one ``GigaChatClient`` against a ``GigaChatEmulator`` in a child
///   process. Environment: `GIGACHAT_BENCH_STREAMS` (1000), `GIGACHAT_BENCH_CHUNKS` (50 content events per stream),
///   `GIGACHAT_BENCH_CHUNK_DELAY_MS` (10), `GIGACHAT_BENCH_ROUNDS` (3; the first one opens the connections),
///   `GIGACHAT_BENCH_TIMEOUT_S` (120: a round's hard limit), `GIGACHAT_BENCH_STREAM_DEADLINE_S` (the client's
///   per-call deadline; none by default).
enum GigaChatBenchmarks {
    static let all: [Benchmark] = [
        Benchmark(
            name: "sse",
            summary: "SSEParser MB/s on a GigaChat stream body, and parse + decode into ChatChunk",
            run: { try runSSE() }
        ),
        Benchmark(
            name: "streams",
            summary: "1000 concurrent streams through one GigaChatClient vs the emulator (child process)",
            run: { try await runStreams() }
        ),
    ]

    // MARK: - SSE parsing

    static func runSSE() throws {
        let mebibytes = environmentInt("GIGACHAT_BENCH_SSE_MIB", default: 64)
        let decodeMebibytes = environmentInt("GIGACHAT_BENCH_DECODE_MIB", default: 16)
        let runs = environmentInt("GIGACHAT_BENCH_RUNS", default: 7)
        let input = GigaChatSSEInput.make(size: mebibytes << 20)
        let decodeInput = GigaChatSSEInput.make(size: decodeMebibytes << 20)
        print(
            "input \(input.buffer.readableBytes) B, \(input.dataEvents) events in \(input.doneEvents) streams "
                + "(\(input.buffer.readableBytes / (input.dataEvents + input.doneEvents)) B/event); "
                + "\(runs) runs, MB = 10^6 B"
        )
        print("")
        print("| path                                     | input  | best MB/s | median MB/s | events/s (median) |")
        print("|------------------------------------------|--------|-----------|-------------|-------------------|")
        for pieceSize in [16 << 10, 256] {
            let pieces = input.pieces(of: pieceSize)
            var durations: [Duration] = []
            for _ in 0..<runs {
                durations.append(try parseOnly(pieces, expecting: input))
            }
            printRow(
                "SSEParser, \(pieceSize >= 1024 ? "\(pieceSize >> 10) KiB" : "\(pieceSize) B") pieces",
                input: input,
                durations: durations
            )
        }
        let decodePieces = decodeInput.pieces(of: 16 << 10)
        var decodeDurations: [Duration] = []
        for _ in 0..<max(1, runs / 2) {
            decodeDurations.append(try parseAndDecode(decodePieces, expecting: decodeInput))
        }
        printRow("parse + JSONDecoder -> ChatChunk, 16 KiB", input: decodeInput, durations: decodeDurations)
        print("")
        print("goal: SSEParser >= 200 MB/s")
    }

    /// The parser alone: counts events and data bytes (and checks them, so nothing is optimised away).
    static func parseOnly(_ pieces: [ByteBuffer], expecting input: GigaChatSSEInput) throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        var parser = SSEParser()
        var dataEvents = 0
        var doneEvents = 0
        var dataBytes = 0
        func onEvent(_ event: SSEEvent) {
            switch event {
            case .data(let bytes), .named(_, let bytes):
                dataEvents += 1
                dataBytes += bytes.count
            case .done:
                doneEvents += 1
            }
        }
        for piece in pieces {
            parser.parse(piece, onEvent)
        }
        parser.finish(onEvent)
        let elapsed = clock.now - start
        guard dataEvents == input.dataEvents, doneEvents == input.doneEvents, dataBytes == input.dataBytes else {
            throw BenchmarkError(
                "SSEParser found \(dataEvents) events / \(doneEvents) [DONE] / \(dataBytes) B, expected "
                    + "\(input.dataEvents) / \(input.doneEvents) / \(input.dataBytes)"
            )
        }
        return elapsed
    }

    /// What `ChatStream` does per body piece: collect the events, decode each with a `JSONDecoder` from `Data`.
    static func parseAndDecode(_ pieces: [ByteBuffer], expecting input: GigaChatSSEInput) throws -> Duration {
        let clock = ContinuousClock()
        let start = clock.now
        var parser = SSEParser()
        let decoder = JSONDecoder()
        var chunks = 0
        var doneEvents = 0
        var contentBytes = 0
        for piece in pieces {
            var events: [SSEEvent] = []
            parser.parse(piece) { events.append($0) }
            for event in events {
                switch event {
                case .done:
                    doneEvents += 1
                case .data(let bytes), .named(_, let bytes):
                    let chunk = try decoder.decode(ChatChunk.self, from: Data(bytes))
                    chunks += 1
                    contentBytes += chunk.content.utf8.count
                }
            }
        }
        let elapsed = clock.now - start
        guard chunks == input.dataEvents, doneEvents == input.doneEvents, contentBytes == input.contentBytes else {
            throw BenchmarkError(
                "decoded \(chunks) chunks / \(doneEvents) [DONE] / \(contentBytes) B of content, expected "
                    + "\(input.dataEvents) / \(input.doneEvents) / \(input.contentBytes)"
            )
        }
        return elapsed
    }

    static func printRow(_ name: String, input: GigaChatSSEInput, durations: [Duration]) {
        let megabytes = Double(input.buffer.readableBytes) / 1_000_000
        let seconds = durations.map(seconds(of:)).sorted()
        let best = seconds.first!
        let median = seconds[seconds.count / 2]
        let events = Double(input.dataEvents + input.doneEvents)
        print(
            "| \(name.padding(toLength: 40, withPad: " ", startingAt: 0)) | "
                + "\(String(format: "%2ld MiB", input.buffer.readableBytes >> 20)) | "
                + "\(String(format: "%9.1f", megabytes / best)) | \(String(format: "%11.1f", megabytes / median)) | "
                + "\(String(format: "%17.0f", events / median)) |"
        )
    }

    // MARK: - Concurrent streams

    struct StreamSettings {
        var streams = environmentInt("GIGACHAT_BENCH_STREAMS", default: 1000)
        var chunkCount = environmentInt("GIGACHAT_BENCH_CHUNKS", default: 50)
        /// 0 is allowed: the emulator then writes every event at once (reads carry many events).
        var chunkDelay = Duration.milliseconds(
            ProcessInfo.processInfo.environment["GIGACHAT_BENCH_CHUNK_DELAY_MS"].flatMap(Int.init).map { max(0, $0) }
                ?? 10
        )
        var rounds = environmentInt("GIGACHAT_BENCH_ROUNDS", default: 3)
        var timeout = Duration.seconds(environmentInt("GIGACHAT_BENCH_TIMEOUT_S", default: 120))
        /// The client's per-call deadline for each stream; none by default, as in the client's default configuration.
        var streamDeadline = ProcessInfo.processInfo.environment["GIGACHAT_BENCH_STREAM_DEADLINE_S"]
            .flatMap(Int.init).map { Duration.seconds($0) }
    }

    /// One stream's measurements.
    struct StreamResult: Sendable {
        var firstChunk: Duration?
        var total: Duration
        var chunks: Int
        var failure: String?
    }

    static func runStreams() async throws {
        let settings = StreamSettings()
        // The peak RSS of this process must be the client's, not that of a benchmark that ran before (sse).
        trimHeap()
        let peakReset = resetPeakRSS()
        let baseline = memoryStatus()
        let emulator = try await GigaChatEmulatorProcess.start(
            chunkCount: settings.chunkCount,
            chunkDelay: settings.chunkDelay
        )
        defer { emulator.stop() }
        print(
            "emulator child on 127.0.0.1:\(emulator.port): \(settings.chunkCount) content events per stream, "
                + "\(settings.chunkDelay) between events; \(settings.streams) concurrent streams x "
                + "\(settings.rounds) rounds (round 1 opens the connections and takes the token), per-stream deadline "
                + "\(settings.streamDeadline.map { "\($0)" } ?? "none")"
        )
        var logger = Logger(label: "benchmarks.gigachat")
        logger.logLevel = .warning
        let configuration = GigaChatConfiguration(
            baseURL: emulator.baseURL,
            authURL: emulator.authURL,
            credentials: Data("benchmark-client:benchmark-secret".utf8).base64EncodedString(),
            timeouts: .init(connect: .seconds(10), idle: .seconds(30)),
            // No retries: a failed stream must show as a failure, not as a slow success.
            retry: .init(maxRetries: 0),
            maxConnections: settings.streams
        )
        let client = try GigaChatClient(configuration: configuration, logger: logger)
        let prompts = (0..<settings.streams).map(prompt(for:))
        let expected = prompts.map {
            GigaChatEmulator.answer(for: [(role: "user", content: $0)], model: "GigaChat")
        }

        var rows: [String] = []
        var failures = 0
        do {
            for round in 1...settings.rounds {
                let clock = ContinuousClock()
                let start = clock.now
                let cpuStart = cpuMicroseconds()
                let emulatorCPUStart = try await emulator.counters()["cpuMicroseconds"] ?? 0
                let results = try await runRound(
                    client: client,
                    prompts: prompts,
                    expected: expected,
                    streamDeadline: settings.streamDeadline,
                    timeout: settings.timeout
                )
                let wall = seconds(of: clock.now - start)
                let cpu = Double(cpuMicroseconds() - cpuStart) / 1e6
                let emulatorCPU =
                    Double((try await emulator.counters()["cpuMicroseconds"] ?? 0) - emulatorCPUStart) / 1e6
                let failed = results.filter { $0.failure != nil }
                failures += failed.count
                if let first = failed.first?.failure {
                    print("round \(round): \(failed.count) streams failed, e.g. \(first)")
                }
                let chunks = results.reduce(0) { $0 + $1.chunks }
                let firsts = results.compactMap(\.firstChunk).map(seconds(of:)).sorted()
                let totals = results.filter { $0.failure == nil }.map { seconds(of: $0.total) }.sorted()
                rows.append(
                    "| \(round == 1 ? "1 (cold)" : "\(round)       ") | \(String(format: "%6.2f", wall)) | "
                        + "\(String(format: "%8.0f", Double(chunks) / wall)) | "
                        + "\(String(format: "%9.0f", Double(totals.count) / wall)) | "
                        + "\(milliseconds(percentile(firsts, 0.50))) | \(milliseconds(percentile(firsts, 0.99))) | "
                        + "\(milliseconds(percentile(totals, 0.50))) | \(milliseconds(percentile(totals, 0.99))) | "
                        + "\(String(format: "%6ld", failed.count)) | "
                        + "\(String(format: "%6.2f s %4.1f us", cpu, cpu * 1e6 / Double(max(1, chunks)))) | "
                        + "\(String(format: "%7.2f s", emulatorCPU)) | \(mebibytes(memoryStatus().rss)) |"
                )
            }
        } catch {
            try? await client.shutdown()
            throw error
        }
        let counters = try await emulator.counters()
        try await client.shutdown()
        let end = memoryStatus()

        print("")
        print(
            "| round    | wall s | chunks/s | streams/s | TTFC p50 | TTFC p99 | total p50 | total p99 | failed "
                + "| client CPU, per chunk | emulator CPU | client RSS after |"
        )
        print(
            "|----------|--------|----------|-----------|----------|----------|-----------|-----------|--------"
                + "|-----------------------|--------------|------------------|"
        )
        rows.forEach { print($0) }
        print("")
        print(
            "emulator counters: OAuth calls \(counters["oauthCalls"] ?? -1) (goal 1), stream calls "
                + "\(counters["streamCalls"] ?? -1), completed \(counters["completedChats"] ?? -1), max concurrent "
                + "\(counters["maxConcurrentChats"] ?? -1), 401s \(counters["rejectedUnauthorized"] ?? -1), "
                + "429s \(counters["rateLimited"] ?? -1)"
        )
        print(
            "client process RSS: \(mebibytes(baseline.rss)) before the client, \(mebibytes(end.rss)) at the end, "
                + "peak (VmHWM) \(mebibytes(end.peak))"
                + (peakReset ? "" : " (the peak could not be reset: it includes earlier benchmarks)")
                + " (goal < 150 MB)"
        )
        let oauthCalls = counters["oauthCalls"] ?? -1
        guard failures == 0, oauthCalls == 1 else {
            throw BenchmarkError("\(failures) streams failed, \(oauthCalls) OAuth calls (expected 0 and 1)")
        }
    }

    /// Runs one stream per prompt, all at once, and checks each answer against the emulator's deterministic one.
    static func runRound(
        client: GigaChatClient,
        prompts: [String],
        expected: [String],
        streamDeadline: Duration?,
        timeout: Duration
    ) async throws -> [StreamResult] {
        try await withThrowingTaskGroup(of: [StreamResult]?.self) { outer in
            outer.addTask {
                await withTaskGroup(of: StreamResult.self) { group in
                    for (prompt, answer) in zip(prompts, expected) {
                        group.addTask {
                            await runStream(client: client, prompt: prompt, expected: answer, deadline: streamDeadline)
                        }
                    }
                    var results: [StreamResult] = []
                    results.reserveCapacity(prompts.count)
                    for await result in group { results.append(result) }
                    return results
                }
            }
            outer.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { outer.cancelAll() }
            guard let first = try await outer.next(), let results = first else {
                throw BenchmarkError("a round of \(prompts.count) streams did not finish within \(timeout)")
            }
            return results
        }
    }

    /// Whether streams are read with `onChunk` callbacks instead of the `AsyncSequence` (GIGACHAT_BENCH_CALLBACKS=1).
    static let callbacks = ProcessInfo.processInfo.environment["GIGACHAT_BENCH_CALLBACKS"] == "1"

    static func runStream(client: GigaChatClient, prompt: String, expected: String, deadline: Duration?) async
        -> StreamResult
    {
        let clock = ContinuousClock()
        let start = clock.now
        var firstChunk: Duration?
        var chunks = 0
        var content = ""
        do {
            if callbacks {
                // The chunks arrive on an event loop: collected under a lock, read once the call returned.
                let collected = Mutex((first: Duration?.none, chunks: 0, content: ""))
                try await client.stream(ChatRequest(messages: [.user(prompt)]), deadline: deadline) { chunk in
                    collected.withLock {
                        if $0.first == nil { $0.first = clock.now - start }
                        $0.chunks += 1
                        $0.content += chunk.content
                    }
                }
                (firstChunk, chunks, content) = collected.withLock { ($0.first, $0.chunks, $0.content) }
            } else {
                for try await chunk in client.stream(ChatRequest(messages: [.user(prompt)]), deadline: deadline) {
                    if firstChunk == nil { firstChunk = clock.now - start }
                    chunks += 1
                    content += chunk.content
                }
            }
        } catch {
            return StreamResult(firstChunk: firstChunk, total: clock.now - start, chunks: chunks, failure: "\(error)")
        }
        let total = clock.now - start
        // Byte comparison: String's == checks canonical equivalence, Unicode work that is not the client's.
        guard content.utf8.elementsEqual(expected.utf8) else {
            return StreamResult(
                firstChunk: firstChunk,
                total: total,
                chunks: chunks,
                failure: "answer differs from the emulator's (\(content.utf8.count) B vs \(expected.utf8.count) B)"
            )
        }
        return StreamResult(firstChunk: firstChunk, total: total, chunks: chunks, failure: nil)
    }

    /// A prompt of about 60 words, so that the emulator's echo can be cut into 50 content events.
    static func prompt(for index: Int) -> String {
        let words = [
            "Расскажи", "подробно", "как", "устроена", "очередь", "сообщений", "и", "зачем", "нужны", "партиции",
        ]
        return "Запрос №\(index): " + (0..<60).map { words[($0 + index) % words.count] }.joined(separator: " ")
    }

    // MARK: - Helpers

    /// Hands memory an earlier benchmark freed (sse: ~100 MB of input) back to the OS: glibc's `malloc_trim`, looked
    /// up at run time because the Glibc module does not export `malloc.h`.
    static func trimHeap() {
        #if canImport(Glibc)
            typealias MallocTrim = @convention(c) (Int) -> Int32
            if let symbol = dlsym(nil, "malloc_trim") {
                _ = unsafeBitCast(symbol, to: MallocTrim.self)(0)
            }
        #endif
    }

    /// Resets VmHWM to the current RSS (Linux `clear_refs` value 5); false when that is not possible.
    static func resetPeakRSS() -> Bool {
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        return (try? handle.write(contentsOf: Data("5".utf8))) != nil
    }

    /// VmRSS and VmHWM of this process in bytes (0 where /proc is missing).
    static func memoryStatus() -> (rss: Int, peak: Int) {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return (0, 0) }
        func value(_ key: String) -> Int {
            guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix(key) }) else { return 0 }
            let number = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? ""
            return (Int(number) ?? 0) * 1024  // kB
        }
        return (value("VmRSS:"), value("VmHWM:"))
    }

    static func mebibytes(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }

    static func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let rank = Int((fraction * Double(sorted.count)).rounded(.up))
        return sorted[min(sorted.count - 1, max(0, rank - 1))]
    }

    static func milliseconds(_ seconds: Double) -> String { String(format: "%5.0f ms", seconds * 1000) }

    static func seconds(of duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func environmentInt(_ name: String, default value: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? value
    }
}
