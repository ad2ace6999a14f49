import Foundation
import GigaChatEmulator
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A ``GigaChatEmulator`` in a child process (this executable in a hidden mode), so that its memory and threads are
/// not counted in the measurements of the client process.
///
/// Protocol on the child's pipes, one line each: the child prints `port <n>` once it listens; for every `counters`
/// line on its stdin it prints `counters key=value ...`; at the end of its stdin (the parent closed it or died) it
/// shuts the emulator down and exits.
final class GigaChatEmulatorProcess {
    /// The first argument that selects the hidden child mode.
    static let childModeArgument = "__gigachat-emulator"

    /// The emulator's port on 127.0.0.1.
    let port: Int
    private let process: Process
    private let input: FileHandle
    private let lines: GigaChatLineQueue

    private init(port: Int, process: Process, input: FileHandle, lines: GigaChatLineQueue) {
        self.port = port
        self.process = process
        self.input = input
        self.lines = lines
    }

    /// `http://127.0.0.1:<port>/api/v1`.
    var baseURL: String { "http://127.0.0.1:\(port)/api/v1" }
    /// `http://127.0.0.1:<port>/api/v2/oauth`.
    var authURL: String { "http://127.0.0.1:\(port)/api/v2/oauth" }

    /// Starts the child and waits (up to 15 s) until it prints its port.
    static func start(chunkCount: Int, chunkDelay: Duration) async throws -> GigaChatEmulatorProcess {
        let executable =
            FileManager.default.fileExists(atPath: "/proc/self/exe")
            ? (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            : CommandLine.arguments[0]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        let delayMicroseconds =
            chunkDelay.components.seconds * 1_000_000 + chunkDelay.components.attoseconds / 1_000_000_000_000
        process.arguments = [childModeArgument, String(chunkCount), String(delayMicroseconds)]
        let stdinPipe = Pipe()
        let stdoutPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = FileHandle.standardError
        try process.run()
        let lines = GigaChatLineQueue()
        let reader = stdoutPipe.fileHandleForReading
        // The blocking reads of the pipe run on a thread of their own, never on the cooperative pool.
        Thread {
            while true {
                let data = reader.availableData
                if data.isEmpty { break }
                lines.append(data)
            }
            lines.close()
        }.start()
        let partial = GigaChatEmulatorProcess(
            port: 0,
            process: process,
            input: stdinPipe.fileHandleForWriting,
            lines: lines
        )
        let line: String
        do {
            line = try await lines.next(timeout: .seconds(15))
        } catch {
            partial.stop()
            throw error
        }
        guard line.hasPrefix("port "), let port = Int(line.dropFirst(5)), port > 0 else {
            partial.stop()
            throw BenchmarkError("emulator child printed '\(line)' instead of its port")
        }
        return GigaChatEmulatorProcess(
            port: port,
            process: process,
            input: stdinPipe.fileHandleForWriting,
            lines: lines
        )
    }

    /// The child's emulator counters (`oauthCalls`, `streamCalls`, ...), asked for over its stdin.
    func counters() async throws -> [String: Int] {
        try input.write(contentsOf: Data("counters\n".utf8))
        let line = try await lines.next(timeout: .seconds(10))
        guard line.hasPrefix("counters ") else {
            throw BenchmarkError("emulator child printed '\(line)' instead of its counters")
        }
        var result: [String: Int] = [:]
        for pair in line.dropFirst(9).split(separator: " ") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let value = Int(parts[1]) { result[String(parts[0])] = value }
        }
        return result
    }

    /// Closes the child's stdin (it shuts down and exits), then kills it if it has not exited within 2 s.
    func stop() {
        try? input.close()
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            // SIGKILL: a Process spawned from a Dispatch thread inherits a mask that blocks SIGTERM.
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
    }

    // MARK: - Child mode

    /// Runs in the child: `__gigachat-emulator <chunkCount> <chunkDelayMicroseconds>`.
    static func serveChild(arguments: [String]) async throws {
        guard arguments.count == 2, let chunkCount = Int(arguments[0]), let delay = Int64(arguments[1]) else {
            throw BenchmarkError("usage: \(childModeArgument) <chunkCount> <chunkDelayMicroseconds>")
        }
        var logger = Logger(label: "benchmarks.gigachat.emulator")
        logger.logLevel = .warning
        let emulator = GigaChatEmulator(
            configuration: GigaChatEmulatorConfiguration(
                host: "127.0.0.1",
                port: 0,
                chunkDelay: .microseconds(delay),
                chunkCount: chunkCount
            ),
            logger: logger
        )
        try await emulator.start()
        FileHandle.standardOutput.write(Data("port \(emulator.port)\n".utf8))
        // stdin is read with blocking calls on a thread of its own; the emulator runs on its NIO threads.
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                while let line = readLine() {
                    guard line == "counters" else { continue }
                    let counters = emulator.counters
                    let text =
                        "counters oauthCalls=\(counters.oauthCalls) chatCalls=\(counters.chatCalls) "
                        + "streamCalls=\(counters.streamCalls) completedChats=\(counters.completedChats) "
                        + "rejectedUnauthorized=\(counters.rejectedUnauthorized) rateLimited=\(counters.rateLimited) "
                        + "maxConcurrentChats=\(counters.maxConcurrentChats) cpuMicroseconds=\(cpuMicroseconds())\n"
                    FileHandle.standardOutput.write(Data(text.utf8))
                }
                continuation.resume()
            }.start()
        }
        try await emulator.shutdown()
    }
}

/// User plus system CPU time of this process so far, in microseconds.
func cpuMicroseconds() -> Int {
    var usage = rusage()
    #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    return (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1_000_000
        + Int(usage.ru_utime.tv_usec) + Int(usage.ru_stime.tv_usec)
}

/// Lines read from a child's stdout, handed to async waiters by polling (the waits are seconds; 5 ms is plenty).
final class GigaChatLineQueue: Sendable {
    private struct State {
        var pending = Data()
        var lines: [String] = []
        var closed = false
    }

    private let state = Mutex(State())

    func append(_ data: Data) {
        state.withLock { state in
            state.pending.append(data)
            while let newline = state.pending.firstIndex(of: 0x0A) {
                let line = state.pending[state.pending.startIndex..<newline]
                state.lines.append(String(decoding: line, as: UTF8.self))
                state.pending = Data(state.pending[(newline + 1)...])
            }
        }
    }

    func close() {
        state.withLock { $0.closed = true }
    }

    /// The next line, waiting up to `timeout`.
    func next(timeout: Duration) async throws -> String {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let (line, closed) = state.withLock { state -> (String?, Bool) in
                state.lines.isEmpty ? (nil, state.closed) : (state.lines.removeFirst(), state.closed)
            }
            if let line { return line }
            if closed { throw BenchmarkError("the emulator child closed its stdout (exited?)") }
            if clock.now > deadline { throw BenchmarkError("the emulator child did not answer within \(timeout)") }
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
