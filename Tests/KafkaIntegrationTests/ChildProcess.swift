import Foundation

/// Runs a command-line tool (kcat) to completion with a time limit, collecting its output.
enum ChildProcess {
    /// What a finished tool printed.
    struct Output: Sendable {
        var status: Int32
        var stdout: Data
        var stderr: String
    }

    /// Runs `executable` with `arguments`, stdin from `stdinFile` (or /dev/null), and kills it after `timeout`.
    ///
    /// - Throws: ``HarnessError`` when the tool cannot start or outlives `timeout`.
    static func run(
        _ executable: String,
        _ arguments: [String],
        stdinFile: URL? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        // Output goes to files rather than pipes: no reader threads, no deadlock on a full pipe.
        let directory = FileManager.default.temporaryDirectory
        let stdoutURL = directory.appendingPathComponent("child-\(UUID().uuidString).out")
        let stderrURL = directory.appendingPathComponent("child-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: stdoutURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderrURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: stdoutURL)
            try? FileManager.default.removeItem(at: stderrURL)
        }
        let stdoutHandle = try FileHandle(forWritingTo: stdoutURL)
        let stderrHandle = try FileHandle(forWritingTo: stderrURL)
        process.standardOutput = stdoutHandle
        process.standardError = stderrHandle
        if let stdinFile {
            process.standardInput = try FileHandle(forReadingFrom: stdinFile)
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        do {
            try process.run()
        } catch {
            throw HarnessError("cannot launch \(executable): \(error)")
        }
        try? stdoutHandle.close()
        try? stderrHandle.close()
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning {
            if clock.now >= deadline {
                sendSignal(SIGKILL, to: process.processIdentifier)
                let stderr = (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
                throw HarnessError(
                    "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout); stderr:\n\(stderr)"
                )
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return Output(
            status: process.terminationStatus,
            stdout: (try? Data(contentsOf: stdoutURL)) ?? Data(),
            stderr: (try? String(contentsOf: stderrURL, encoding: .utf8)) ?? ""
        )
    }

    /// `/usr/bin/kcat`, or `KCAT_BIN`.
    static var kcatPath: String {
        ProcessInfo.processInfo.environment["KCAT_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/bin/kcat"
    }
}
