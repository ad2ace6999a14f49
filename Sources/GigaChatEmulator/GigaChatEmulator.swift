import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// A local GigaChat-compatible server for tests, demos and benchmarks: OAuth, chat completions (whole and SSE),
/// models, token counting, embeddings and balance, with the real API's wire format and fault injection.
///
/// ```swift
/// let emulator = GigaChatEmulator()
/// try await emulator.start()
/// // point a client at emulator.baseURL / emulator.authURL
/// try await emulator.shutdown()
/// ```
///
/// Built on SwiftNIO event loops: a connection costs a channel and a handler, a streamed answer is a list of
/// pre-rendered events written by timers on the connection's event loop, so thousands of concurrent streams are
/// cheap.
///
/// - Important: call ``shutdown()`` when done; it closes every connection and stops the event loop threads.
public final class GigaChatEmulator: Sendable {
    private enum Lifecycle {
        case idle
        case running(group: MultiThreadedEventLoopGroup, channel: any Channel, port: Int)
        case stopped
    }

    /// The configuration the emulator was created with (faults may have changed since, see ``updateFaults(_:)``).
    public let configuration: GigaChatEmulatorConfiguration
    private let logger: Logger
    private let state: EmulatorState
    private let lifecycle = Mutex(Lifecycle.idle)

    /// Creates a stopped emulator; nothing is bound until ``start()``.
    /// - Parameters:
    ///   - configuration: Address, TLS, accepted credentials, timing, models and faults.
    ///   - logger: Receives start/stop messages at debug level and warnings (never keys or tokens).
    public init(
        configuration: GigaChatEmulatorConfiguration = .init(),
        logger: Logger = Logger(label: "gigachat.emulator")
    ) {
        self.configuration = configuration
        self.logger = logger
        self.state = EmulatorState(faults: configuration.faults, staticAccessTokens: configuration.staticAccessTokens)
    }

    /// Binds the listening socket and starts serving; after it ``port``, ``baseURL`` and ``authURL`` are final.
    /// - Throws: ``GigaChatEmulatorError`` with code `invalidConfiguration`, `tlsSetupFailed`, `bindFailed` or
    ///   `alreadyStarted`.
    public func start() async throws {
        try configuration.validate()
        let sslContext: NIOSSLContext?
        if let tls = configuration.tls {
            do {
                let chain = try NIOSSLCertificate.fromPEMFile(tls.certificateChainPath).map {
                    NIOSSLCertificateSource.certificate($0)
                }
                let key = try NIOSSLPrivateKey(file: tls.privateKeyPath, format: .pem)
                let tlsConfiguration = TLSConfiguration.makeServerConfiguration(
                    certificateChain: chain,
                    privateKey: .privateKey(key)
                )
                sslContext = try NIOSSLContext(configuration: tlsConfiguration)
            } catch {
                throw GigaChatEmulatorError(
                    code: .tlsSetupFailed,
                    message: "cannot load the TLS certificate chain or key",
                    cause: error
                )
            }
        } else {
            sslContext = nil
        }
        let alreadyStarted = lifecycle.withLock { lifecycle -> Bool in
            if case .idle = lifecycle { return false }
            return true
        }
        if alreadyStarted {
            throw GigaChatEmulatorError(code: .alreadyStarted, message: "start() may be called once")
        }

        let group = MultiThreadedEventLoopGroup(numberOfThreads: configuration.eventLoopThreads)
        let router = EmulatorRouter(configuration: configuration, state: state)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let operations = channel.pipeline.syncOperations
                    if let sslContext {
                        try operations.addHandler(NIOSSLServerHandler(context: sslContext))
                    }
                    try operations.configureHTTPServerPipeline(withErrorHandling: true)
                    try operations.addHandler(EmulatorHTTPHandler(router: router))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw GigaChatEmulatorError(
                code: .bindFailed,
                message: "cannot listen on \(configuration.host):\(configuration.port)",
                cause: error
            )
        }
        let port = channel.localAddress?.port ?? configuration.port
        let stored = lifecycle.withLock { lifecycle -> Bool in
            guard case .idle = lifecycle else { return false }
            lifecycle = .running(group: group, channel: channel, port: port)
            return true
        }
        guard stored else {
            // A concurrent start() won the race; undo ours.
            try? await channel.close()
            try? await group.shutdownGracefully()
            throw GigaChatEmulatorError(code: .alreadyStarted, message: "start() may be called once")
        }
        logger.debug(
            "GigaChat emulator listening",
            metadata: ["base_url": "\(baseURL)", "auth_url": "\(authURL)", "tls": "\(configuration.tls != nil)"]
        )
    }

    /// Closes the listening socket and every open connection, and stops the event loop threads.
    /// Calling it again, or before ``start()``, does nothing.
    public func shutdown() async throws {
        let running = lifecycle.withLock { lifecycle -> (MultiThreadedEventLoopGroup, any Channel)? in
            guard case .running(let group, let channel, _) = lifecycle else {
                lifecycle = .stopped
                return nil
            }
            lifecycle = .stopped
            return (group, channel)
        }
        guard let (group, channel) = running else { return }
        try? await channel.close()
        // Shutting the group down closes the accepted connections too (a cut for any stream still running).
        try await group.shutdownGracefully()
        logger.debug("GigaChat emulator stopped")
    }

    /// The bound port once started (the configured port before).
    public var port: Int {
        lifecycle.withLock { lifecycle in
            if case .running(_, _, let port) = lifecycle { return port }
            return configuration.port
        }
    }

    private var scheme: String { configuration.tls == nil ? "http" : "https" }

    /// The API base URL, `http(s)://<host>:<port>/api/v1`, as the SDKs' `base_url` expects.
    public var baseURL: String { "\(scheme)://\(hostForURL):\(port)/api/v1" }

    /// The OAuth URL, `http(s)://<host>:<port>/api/v2/oauth`, as the SDKs' `auth_url` expects.
    public var authURL: String { "\(scheme)://\(hostForURL):\(port)/api/v2/oauth" }

    private var hostForURL: String {
        configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host
    }

    /// Replaces the faults of a running emulator; the next requests see them (``GigaChatEmulatorFaults/failFirst``
    /// starts again from its first status).
    /// - Parameter faults: The new fault set; an invalid one (a rate outside 0...1, ...) is ignored with a logged
    ///   warning and the current faults stay.
    public func updateFaults(_ faults: GigaChatEmulatorFaults) {
        do {
            try faults.validate()
            state.updateFaults(faults)
        } catch {
            logger.warning("Ignoring invalid emulator faults", metadata: ["error": "\(error)"])
        }
    }

    /// The current faults.
    public var faults: GigaChatEmulatorFaults { state.faults }

    /// What has been served since start or the last ``resetCounters()`` (thread-safe snapshot).
    public var counters: GigaChatEmulatorCounters { state.counters }

    /// The access tokens this emulator has issued (and pre-issued static ones), for tests that check a client
    /// never shows them.
    public var issuedAccessTokens: [String] { state.issuedTokens }

    /// Zeroes the counters; ``GigaChatEmulatorCounters/currentConcurrentChats`` keeps counting the chats still
    /// running, and ``GigaChatEmulatorCounters/maxConcurrentChats`` restarts from it.
    public func resetCounters() {
        state.resetCounters()
    }
}
