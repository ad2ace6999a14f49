import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Runs a command-line tool (kcat) to completion with a time limit; stdout goes to a file or is discarded.
enum Command {
    /// A finished run.
    struct Result {
        var status: Int32
        var stderr: String
        /// Wall time from launch to exit.
        var elapsed: Duration
    }

    /// `KCAT_BIN`, else /usr/bin/kcat.
    static var kcatPath: String {
        ProcessInfo.processInfo.environment["KCAT_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/bin/kcat"
    }

    static func run(
        _ executable: String,
        _ arguments: [String],
        stdout: URL? = nil,
        timeout: Duration = .seconds(120)
    ) async throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let stderrURL = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: stderrURL) }
        let stderrHandle = try FileHandle(forWritingTo: stderrURL)
        var stdoutHandle: FileHandle?
        if let stdout {
            _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
            stdoutHandle = try FileHandle(forWritingTo: stdout)
        }
        process.standardOutput = stdoutHandle ?? FileHandle.nullDevice
        process.standardError = stderrHandle
        process.standardInput = FileHandle.nullDevice
        let clock = ContinuousClock()
        let start = clock.now
        try process.run()
        try? stderrHandle.close()
        try? stdoutHandle?.close()
        // Poll with a short sleep: 1 ms granularity is far below the seconds being measured.
        while process.isRunning {
            if clock.now - start > timeout {
                kill(process.processIdentifier, SIGKILL)
                throw BenchmarkError(
                    "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout)"
                )
            }
            try await Task.sleep(for: .milliseconds(1))
        }
        let elapsed = clock.now - start
        let stderr = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        return Result(status: process.terminationStatus, stderr: stderr, elapsed: elapsed)
    }
}
