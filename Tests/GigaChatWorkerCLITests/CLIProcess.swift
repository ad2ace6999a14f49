import Foundation
import TestSupport

/// Runs the built `gigachat-worker` executable (it sits beside the test bundle in the build folder).
enum CLIProcess {
    struct Result: Sendable {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// The executable, found beside the running test binary.
    static var executable: URL {
        let testBinary = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return testBinary.deletingLastPathComponent().appendingPathComponent("gigachat-worker")
    }

    /// Runs the executable with `arguments` and only `environment` (plus PATH), killing it after `timeout`.
    static func run(_ arguments: [String], environment: [String: String], timeout: Duration = .seconds(30))
        async throws -> Result
    {
        let executable = Self.executable
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw SpawnedProcess.Failure("gigachat-worker not built at \(executable.path)")
        }
        var environment = environment
        environment["PATH"] = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"]
        let output = try await SpawnedProcess.run(
            executable.path,
            arguments,
            environment: environment,
            timeout: timeout
        )
        return Result(
            status: output.status,
            stdout: String(decoding: output.stdout, as: UTF8.self),
            stderr: output.stderr
        )
    }
}
