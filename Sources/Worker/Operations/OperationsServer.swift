import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle
import Synchronization

/// Serves `/metrics` (Prometheus text format), `/healthz` (the process serves) and `/readyz` (the worker can do
/// work: it owns partitions and GigaChat is usable) on one port. A ServiceLifecycle `Service`: it stops with the
/// group.
public final class OperationsServer: Service, Sendable {
    /// Whether the worker is ready, and if not, why.
    public typealias Readiness = @Sendable () -> (ready: Bool, reason: String)

    private let host: String
    private let port: Int
    private let registry: PrometheusCollectorRegistry
    private let readiness: Readiness
    private let logger: Logger
    private let bound = Mutex<Int?>(nil)

    /// - Parameters:
    ///   - host: The address to bind (`metrics.host`).
    ///   - port: The port (`metrics.port`); 0 picks a free one (read it from ``boundPort``).
    ///   - registry: What `/metrics` shows.
    ///   - readiness: What `/readyz` answers.
    public init(
        host: String,
        port: Int,
        registry: PrometheusCollectorRegistry,
        logger: Logger,
        readiness: @escaping Readiness
    ) {
        self.host = host
        self.port = port
        self.registry = registry
        self.readiness = readiness
        self.logger = logger
    }

    /// The port once listening.
    public var boundPort: Int? { bound.withLock { $0 } }

    public func run() async throws {
        let registry = self.registry
        let readiness = self.readiness
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(
                        OperationsHTTPHandler(registry: registry, readiness: readiness)
                    )
                }
            }
            .bind(host: host, port: port)
            .get()
        let port = channel.localAddress?.port ?? self.port
        bound.withLock { $0 = port }
        logger.info("Serving /metrics, /healthz and /readyz", metadata: ["address": "\(host):\(port)"])
        // Ends on graceful shutdown, and on cancellation (the group cancels every service when one throws, as the
        // worker does when GigaChat rejects the credentials at start-up).
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                try? await channel.closeFuture.get()
            } onGracefulShutdown: {
                channel.close(promise: nil)
            }
        } onCancel: {
            channel.close(promise: nil)
        }
    }
}
