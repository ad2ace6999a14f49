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
final class TansuBroker: Sendable {
    /// The port on 127.0.0.1 the broker listens on.
    let port: Int
    /// `127.0.0.1:port`: Tansu listens on IPv4 only, so never `localhost` (librdkafka may try ::1 first).
    var bootstrap: String { "127.0.0.1:\(port)" }
    /// Where the broker's stdout and stderr go.
    let logURL: URL
    private let process: LockedProcess

    private init(port: Int, logURL: URL, process: LockedProcess) {
        self.port = port
        self.logURL = logURL
        self.process = process
    }

    deinit {
        // Last resort when a test forgot to stop it; `stop()` is the normal path.
        process.kill(signal: SIGKILL)
    }

    /// Starts a broker and waits until it answers a Kafka Metadata request.
    static func start(timeout: Duration = .seconds(15)) async throws -> TansuBroker {
        let binary = try locateBinary()
        var lastError: HarnessError?
        // The free port is found by binding port 0 and closing it, so another process may take it before Tansu
        // binds; a few attempts make that race harmless.
        for _ in 0..<3 {
            let port = try freePort()
            let logURL = FileManager.default.temporaryDirectory
                .appendingPathComponent("tansu-\(port)-\(UUID().uuidString.prefix(8)).log")
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
            let log = try FileHandle(forWritingTo: logURL)
            let process = Process()
            process.executableURL = binary
            let url = "tcp://127.0.0.1:\(port)"
            process.arguments = [
                "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine",
                "memory://tansu/",
            ]
            process.standardOutput = log
            process.standardError = log
            process.standardInput = FileHandle.nullDevice
            do {
                try process.run()
            } catch {
                throw HarnessError("cannot launch \(binary.path): \(error)")
            }
            try? log.close()
            let broker = TansuBroker(port: port, logURL: logURL, process: LockedProcess(process))
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            while true {
                if await KafkaProbe.answersMetadata(port: port) {
                    return broker
                }
                if !process.isRunning {
                    lastError = HarnessError(
                        "tansu exited with status \(process.terminationStatus) during start-up on port \(port); "
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
    func stop(timeout: Duration = .seconds(5)) async {
        // SIGKILL, not SIGTERM: Foundation's Process passes on the spawning thread's signal mask, in which Dispatch's
        // worker threads block SIGTERM and SIGINT (measured: Tansu ignored SIGTERM for 5 s). Storage is in memory,
        // so there is nothing to lose.
        process.kill(signal: SIGKILL)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while process.isRunning, clock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        try? FileManager.default.removeItem(at: logURL)
    }

    /// The last lines of the broker's log, for failure messages.
    func logTail(lines: Int = 30) -> String {
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
    static func freePort() throws -> Int {
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
func withTansuBroker<T: Sendable>(_ body: (TansuBroker) async throws -> T) async throws -> T {
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

/// A failure of the test harness itself (broker or tool could not start, timeouts).
struct HarnessError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

#if os(Linux)
    let socketStreamType = SOCK_STREAM.rawValue
#else
    let socketStreamType = SOCK_STREAM
#endif

func loopbackAddress(port: UInt16) -> sockaddr_in {
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = port.bigEndian
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    return address
}

/// `Process` guarded by a lock: it is not `Sendable`, and the broker object is shared between tasks.
// Safe because every access to `process` goes through `lock`.
private final class LockedProcess: @unchecked Sendable {
    private let lock = NSLock()
    private let process: Process

    init(_ process: Process) { self.process = process }

    var isRunning: Bool { lock.withLock { process.isRunning } }

    func kill(signal: Int32) {
        lock.withLock {
            if process.isRunning {
                sendSignal(signal, to: process.processIdentifier)
            }
        }
    }
}

/// `kill(2)`, named apart from the method above.
func sendSignal(_ signal: Int32, to pid: Int32) {
    #if canImport(Glibc)
        _ = Glibc.kill(pid, signal)
    #else
        _ = Darwin.kill(pid, signal)
    #endif
}
