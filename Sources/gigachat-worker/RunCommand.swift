import ArgumentParser
import Dispatch
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Worker

#if canImport(Glibc)
    import Glibc
#endif

/// `gigachat-worker run`: the worker, until SIGTERM or SIGINT (a second signal exits at once).
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Consume prompt jobs from Kafka, answer them with GigaChat, publish partials and completions.",
        discussion: """
            Settings come from a YAML file (--config), the environment and flags, later ones winning: \
            flags > environment > file > defaults. Every key can be given with --set key=value; the worker's \
            environment variables are GIGACHAT_WORKER_ + the key in upper case with _ for . \
            (GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS), and the GigaChat ones are the official SDK's \
            (GIGACHAT_CREDENTIALS, GIGACHAT_BASE_URL, ...). Any librdkafka property: -X key=value. \
            SIGTERM/SIGINT stop intake, let running jobs finish (shutdown.drain_timeout), commit and exit 0; a \
            second signal exits at once.
            """
    )

    @OptionGroup var settings: WorkerSettingsOptions

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "gigachat-worker")
        let configuration: WorkerConfiguration
        do {
            configuration = try await WorkerConfiguration.load(settings.sources)
        } catch {
            CLIOutput.writeError("error: \(error)\n")
            throw ExitCode(2)
        }
        Self.bootstrapMetrics()
        let worker: WorkerService
        do {
            worker = try WorkerService(configuration: configuration, logger: logger)
        } catch {
            CLIOutput.writeError("error: cannot start the worker: \(error)\n")
            throw ExitCode.failure
        }
        let watcher = SecondSignalWatcher()
        defer { watcher.cancel() }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [.init(service: worker)]
        if configuration.metricsEnabled {
            services.append(
                .init(
                    service: OperationsServer(
                        host: configuration.metricsHost,
                        port: configuration.metricsPort,
                        registry: Self.registry,
                        logger: logger,
                        readiness: { worker.readiness }
                    )
                )
            )
        }
        let group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger
            )
        )
        do {
            try await group.run()
        } catch let error as WorkerStartError {
            CLIOutput.writeError("error: \(error.message)\n")
            throw ExitCode.failure
        } catch {
            CLIOutput.writeError("error: the worker stopped: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// The process's metrics registry, exported on `/metrics`.
    static let registry = PrometheusCollectorRegistry()

    /// Routes swift-metrics to the Prometheus registry, with buckets sized for LLM latencies.
    static func bootstrapMetrics() {
        var factory = PrometheusMetricsFactory(registry: registry)
        let long: [Duration] = [
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2),
            .seconds(5), .seconds(10), .seconds(20), .seconds(30), .seconds(60), .seconds(120), .seconds(300),
        ]
        factory.durationHistogramBuckets["gigachat_worker_job_duration_seconds"] = long
        factory.durationHistogramBuckets["gigachat_worker_time_to_first_token_seconds"] = long
        factory.durationHistogramBuckets["gigachat_worker_partial_publish_delay_seconds"] = [
            .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
            // 120 ms: the default partials.interval (100 ms) + 20 ms, issue 17's bound on p99.
            .milliseconds(30), .milliseconds(50), .milliseconds(75), .milliseconds(100), .milliseconds(120),
            .milliseconds(250),
            .milliseconds(1000),
        ]
        MetricsSystem.bootstrap(factory)
    }
}
