import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The broker a benchmark runs against: `KAFKA_BOOTSTRAP` if set, else its own Tansu on 127.0.0.1 and a free port.
final class BenchmarkBroker {
    /// `host:port` for `bootstrap.servers`.
    let bootstrap: String
    private let process: Process?

    private init(bootstrap: String, process: Process?) {
        self.bootstrap = bootstrap
        self.process = process
    }

    /// Uses `KAFKA_BOOTSTRAP`, or starts Tansu (`TANSU_BIN`, else /usr/local/bin/tansu) and waits for its metadata.
    static func start() async throws -> BenchmarkBroker {
        if let bootstrap = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"], !bootstrap.isEmpty {
            return BenchmarkBroker(bootstrap: bootstrap, process: nil)
        }
        let binary =
            ProcessInfo.processInfo.environment["TANSU_BIN"].flatMap { $0.isEmpty ? nil : $0 }
            ?? "/usr/local/bin/tansu"
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw BenchmarkError("tansu not found at \(binary): set TANSU_BIN or KAFKA_BOOTSTRAP")
        }
        let port = try freePort()
        let url = "tcp://127.0.0.1:\(port)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "broker", "--listener-url", url, "--advertised-listener-url", url, "--storage-engine", "memory://tansu/",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let broker = BenchmarkBroker(bootstrap: "127.0.0.1:\(port)", process: process)
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(15)
        while clock.now < deadline {
            let probe = try await Command.run(Command.kcatPath, ["-L", "-b", broker.bootstrap, "-m", "2"])
            if probe.status == 0 {
                return broker
            }
            guard process.isRunning else {
                throw BenchmarkError("tansu exited with status \(process.terminationStatus) during start-up")
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        broker.stop()
        throw BenchmarkError("tansu did not answer metadata on \(broker.bootstrap) within 15 s")
    }

    /// The broker's process id, when this object started it.
    var pid: Int32? { process?.processIdentifier }

    /// Kills the broker this object started (memory storage: nothing to flush). Does nothing for `KAFKA_BOOTSTRAP`.
    func stop() {
        // SIGKILL: a Process spawned from a Dispatch thread inherits a mask that blocks SIGTERM.
        if let process, process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    private static func freePort() throws -> Int {
        #if os(Linux)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
            let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw BenchmarkError("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, length) == 0 ? getsockname(fd, $0, &length) : -1
            }
        }
        guard result == 0 else { throw BenchmarkError("cannot bind 127.0.0.1:0: errno \(errno)") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A benchmark could not run (setup failed, a count did not match).
struct BenchmarkError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
