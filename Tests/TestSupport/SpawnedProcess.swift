import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A child process for tests (brokers, kcat, openssl, Python, the built executable), started with `posix_spawn`.
///
/// Not Foundation's `Process`: on Linux its `run()` over-reads `/proc/self/fd` directory entries and crashes the
/// whole test process now and then (swift-corelibs-foundation PR #5472, still in Swift 6.3.1; seen here once in six
/// full runs, more likely the more descriptors are open). The child gets an empty signal mask and default signal
/// handlers, so SIGTERM works (a thread of the test process may block it, and `posix_spawn` would pass that on).
public final class SpawnedProcess: Sendable {
    /// A failure to start or to finish in time; the message says which command.
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// What a finished command printed.
    public struct Output: Sendable {
        /// The exit code, or 128 + the signal that ended it.
        public var status: Int32
        public var stdout: Data
        public var stderr: String
    }

    /// The child's process id.
    public let pid: pid_t
    /// Its exit status once reaped; reaping happens once, so a recycled pid is never signalled.
    private let reaped = Mutex<Int32?>(nil)

    private init(pid: pid_t) { self.pid = pid }

    /// Starts `executable` (a path, or a name looked up on `PATH`).
    /// - Parameters:
    ///   - environment: The child's whole environment; `nil` passes this process's on.
    ///   - stdin: A file to read from; `nil` is /dev/null.
    ///   - stdout: A file to write to (created or truncated); `nil` is /dev/null.
    ///   - stderr: Likewise; the same path as `stdout` shares its descriptor.
    public static func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        stdin: String? = nil,
        stdout: String? = nil,
        stderr: String? = nil
    ) throws -> SpawnedProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdin ?? "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let stderr, stderr == stdout {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        } else {
            posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let environment = environment ?? ProcessInfo.processInfo.environment
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawnp(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw Failure("cannot start \(executable): \(String(cString: strerror(result)))")
        }
        return SpawnedProcess(pid: pid)
    }

    /// The exit status (exit code, or 128 + signal) once the child has ended; `nil` while it runs. Never blocks.
    public var exitStatus: Int32? {
        self.reaped.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            guard waitpid(self.pid, &status, WNOHANG) == self.pid else { return nil }
            // WIFEXITED / WEXITSTATUS / WTERMSIG are macros Swift cannot import.
            let signal = status & 0x7f
            reaped = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return reaped
        }
    }

    /// Whether the child is still running.
    public var isRunning: Bool { self.exitStatus == nil }

    /// Sends `signal` unless the child has already been reaped.
    public func kill(_ signal: Int32) {
        self.reaped.withLock { reaped in
            guard reaped == nil else { return }
            #if canImport(Glibc)
                _ = Glibc.kill(self.pid, signal)
            #else
                _ = Darwin.kill(self.pid, signal)
            #endif
        }
    }

    /// Waits (polling, off any blocking call) until the child ends or `timeout` passes.
    /// - Returns: The exit status, or `nil` when it is still running after `timeout`.
    public func wait(timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = self.exitStatus { return status }
            if ContinuousClock.now >= deadline { return nil }
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs a command to completion, collecting what it printed (through files: no pipe can fill up and block).
    /// - Parameters:
    ///   - mergeOutput: Send stderr to stdout (as a terminal shows them).
    ///   - timeout: The child is killed (SIGKILL) after it, and the call throws.
    public static func run(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String]? = nil,
        stdin: String? = nil,
        mergeOutput: Bool = false,
        timeout: Duration = .seconds(60)
    ) async throws -> Output {
        let directory = FileManager.default.temporaryDirectory
        let stdoutPath = directory.appendingPathComponent("child-\(UUID().uuidString).out").path
        let stderrPath =
            mergeOutput ? stdoutPath : directory.appendingPathComponent("child-\(UUID().uuidString).err").path
        defer {
            try? FileManager.default.removeItem(atPath: stdoutPath)
            try? FileManager.default.removeItem(atPath: stderrPath)
        }
        let child = try Self.start(
            executable,
            arguments,
            environment: environment,
            stdin: stdin,
            stdout: stdoutPath,
            stderr: stderrPath
        )
        guard let status = await child.wait(timeout: timeout) else {
            child.kill(SIGKILL)
            _ = await child.wait(timeout: .seconds(5))
            let stderr = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
            throw Failure(
                "\(executable) \(arguments.joined(separator: " ")) did not finish within \(timeout); output:\n\(stderr)"
            )
        }
        return Output(
            status: status,
            stdout: FileManager.default.contents(atPath: stdoutPath) ?? Data(),
            stderr: mergeOutput ? "" : (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        )
    }
}
