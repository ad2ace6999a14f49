import Foundation
import TestSupport

/// Runs a command-line tool (kcat) to completion with a time limit, collecting its output.
enum ChildProcess {
    /// What a finished tool printed.
    typealias Output = SpawnedProcess.Output

    /// Runs `executable` with `arguments`, stdin from `stdinFile` (or /dev/null), and kills it after `timeout`.
    ///
    /// - Throws: ``HarnessError`` when the tool cannot start or outlives `timeout`.
    static func run(
        _ executable: String,
        _ arguments: [String],
        stdinFile: URL? = nil,
        timeout: Duration = .seconds(30)
    ) async throws -> Output {
        do {
            return try await SpawnedProcess.run(executable, arguments, stdin: stdinFile?.path, timeout: timeout)
        } catch let failure as SpawnedProcess.Failure {
            throw HarnessError(failure.description)
        }
    }

    /// `/usr/bin/kcat`, or `KCAT_BIN`.
    static var kcatPath: String {
        ProcessInfo.processInfo.environment["KCAT_BIN"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/bin/kcat"
    }
}
