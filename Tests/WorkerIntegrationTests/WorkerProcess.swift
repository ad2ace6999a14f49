import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// The built `gigachat-worker run` as a child process (for crashes and signals), its output in a log file.
final class WorkerProcess: Sendable {
    private let process: SpawnedProcess
    let logURL: URL

    private init(process: SpawnedProcess, logURL: URL) {
        self.process = process
        self.logURL = logURL
    }

    /// The executable, found beside the running test binary.
    static var executable: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("gigachat-worker")
    }

    static func start(arguments: [String] = [], environment: [String: String]) throws -> WorkerProcess {
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw HarnessError("gigachat-worker not built at \(executable.path)")
        }
        var environment = environment
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"]
        let logURL = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(UUID().uuidString).log")
        let process = try SpawnedProcess.start(
            executable.path,
            ["run"] + arguments,
            environment: environment,
            stdout: logURL.path,
            stderr: logURL.path
        )
        return WorkerProcess(process: process, logURL: logURL)
    }

    func kill(_ signal: Int32) { process.kill(signal) }

    /// The exit status once it has exited; `nil` while it runs.
    var exitStatus: Int32? { process.exitStatus }

    /// The exit status, or `nil` if it did not exit within `timeout` (then it is killed).
    func wait(timeout: Duration) async -> Int32? {
        let status = await process.wait(timeout: timeout)
        if status == nil { process.kill(SIGKILL) }
        return status
    }

    func logTail(lines: Int = 40) -> String {
        guard let data = FileManager.default.contents(atPath: logURL.path) else { return "(no log)" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    deinit {
        process.kill(SIGKILL)
    }
}
