import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A Tansu broker process owned by the tests: in-memory storage, listening and advertising 127.0.0.1 on a free port.
///
/// Start it with ``withTansuBroker(_:)``, which stops it in all cases. The binary comes from `TANSU_BIN`, else
/// `/usr/local/bin/tansu`, else `tansu` on `PATH`. Start-up failures throw ``HarnessError`` (tests fail, never skip).
public final class TansuBroker: Sendable {
    /// The port on 127.0.0.1 the broker listens on.
    public let port: Int
    /// `127.0.0.1:port`: Tansu listens on IPv4 only, so never `localhost` (librdkafka may try ::1 first).
    public var bootstrap: String { "127.0.0.1:\(port)" }
    /// Where the broker's stdout and stderr go.
    public let logURL: URL
    private let process: SpawnedProcess

    private init(port: Int, logURL: URL, process: SpawnedProcess) {
        self.port = port
        self.logURL = logURL
        self.process = process
    }

    deinit {
        // Last resort when a test forgot to stop it; `stop()` is the normal path.
        process.kill(SIGKILL)
    }

    /// Starts a broker and waits until it answers a Kafka Metadata request.
    public static func start(timeout: Duration = .seconds(15)) async throws -> TansuBroker {
        let binary = try locateBinary()
        var lastError: HarnessError?
        // The free port is found by binding port 0 and closing it, so another process may take it before Tansu
        // binds; a few attempts make that race harmless.
        for _ in 0..<3 {
            let port = try freePort()
            let logURL = FileManager.default.temporaryDirectory
                .appendingPathComponent("tansu-\(port)-\(UUID().uuidString.prefix(8)).log")
            let url = "tcp://127.0.0.1:\(port)"
            let process: SpawnedProcess
            do {
                process = try SpawnedProcess.start(
                    binary.path,
                    [
                        "broker", "--listener-url", url, "--advertised-listener-url", url,
                        "--storage-engine", "memory://tansu/",
                    ],
                    stdout: logURL.path,
                    stderr: logURL.path
                )
            } catch {
                throw HarnessError("cannot launch \(binary.path): \(error)")
            }
            let broker = TansuBroker(port: port, logURL: logURL, process: process)
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            while true {
                if await KafkaProbe.answersMetadata(port: port) {
                    return broker
                }
                if let status = process.exitStatus {
                    lastError = HarnessError(
                        "tansu exited with status \(status) during start-up on port \(port); "
                            + "log:\n\(broker.logTail())"
                    )
                    break
                }
                if clock.now >= deadline {
                    await broker.stop()
                    throw HarnessError(
                        "tansu did not answer Kafka metadata on 127.0.0.1:\(port) within \(timeout); "
                            + "log:\n\(broker.logTail())"
                    )
                }
                try await Task.sleep(for: .milliseconds(25))
            }
        }
        throw lastError ?? HarnessError("tansu could not start")
    }

    /// Stops the broker and waits until it has exited. Safe to call more than once.
    public func stop(timeout: Duration = .seconds(5)) async {
        // SIGKILL: storage is in memory, so there is nothing to lose and no reason to wait for a clean exit.
        process.kill(SIGKILL)
        _ = await process.wait(timeout: timeout)
        try? FileManager.default.removeItem(at: logURL)
    }

    /// Freezes the broker (SIGSTOP): connections stay open and nothing is answered, as with a hung broker or a
    /// network partition; its data survives. ``thaw()`` resumes it.
    public func freeze() { process.kill(SIGSTOP) }

    /// Resumes a frozen broker (SIGCONT).
    public func thaw() { process.kill(SIGCONT) }

    /// The last lines of the broker's log, for failure messages.
    public func logTail(lines: Int = 30) -> String {
        guard let data = FileManager.default.contents(atPath: logURL.path) else { return "(no log)" }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    private static func locateBinary() throws -> URL {
        let fileManager = FileManager.default
        if let path = ProcessInfo.processInfo.environment["TANSU_BIN"], !path.isEmpty {
            guard fileManager.isExecutableFile(atPath: path) else {
                throw HarnessError("TANSU_BIN=\(path) is not an executable file")
            }
            return URL(fileURLWithPath: path)
        }
        if fileManager.isExecutableFile(atPath: "/usr/local/bin/tansu") {
            return URL(fileURLWithPath: "/usr/local/bin/tansu")
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/tansu"
            if fileManager.isExecutableFile(atPath: candidate) {
                return URL(fileURLWithPath: candidate)
            }
        }
        throw HarnessError(
            "tansu not found: set TANSU_BIN, install it to /usr/local/bin/tansu or put it on PATH "
                + "(scripts/bootstrap.sh installs it)"
        )
    }

    /// A port on 127.0.0.1 that was free a moment ago.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(socketStreamType), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = loopbackAddress(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw HarnessError("bind(127.0.0.1:0) failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw HarnessError("getsockname failed: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Runs `body` with a freshly started broker and stops the broker afterwards, whether `body` returns or throws.
public func withTansuBroker<T: Sendable>(_ body: (TansuBroker) async throws -> T) async throws -> T {
    let broker = try await TansuBroker.start()
    do {
        let result = try await body(broker)
        await broker.stop()
        return result
    } catch {
        await broker.stop()
        throw error
    }
}
