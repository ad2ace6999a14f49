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

    @Option(help: "A YAML configuration file.")
    var config: String?

    @Option(help: "Kafka brokers, host:port[,host:port] (kafka.bootstrap_servers).")
    var bootstrapServers: String?

    @Option(help: "Consumer group (kafka.group_id).")
    var groupID: String?

    @Option(help: "Jobs topic (topics.jobs).")
    var jobsTopic: String?

    @Option(help: "Partials topic (topics.partials).")
    var partialsTopic: String?

    @Option(help: "Completions topic (topics.completions).")
    var completionsTopic: String?

    @Option(help: "Dead-letter topic (topics.dead_letter; default: the jobs topic + .DLT).")
    var deadLetterTopic: String?

    @Option(help: "GigaChat requests in flight at most (concurrency).")
    var concurrency: Int?

    @Option(help: "unordered or per-key (ordering).")
    var ordering: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any setting as key=value, e.g. --set partials.interval=50ms.", valueName: "key=value"))
    var settings: [String] = []

    @Option(name: .customShort("X"), help: ArgumentHelp("A librdkafka property for both clients, e.g. -X security.protocol=SASL_SSL.", valueName: "key=value"))
    var kafkaProperties: [String] = []

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        for setting in settings where !setting.contains("=") {
            throw ValidationError("--set takes key=value, got \"\(setting)\"")
        }
        for property in kafkaProperties where !property.contains("=") {
            throw ValidationError("-X takes key=value, got \"\(property)\"")
        }
    }

    /// The flags as configuration keys.
    var flagValues: [String: String] {
        var values: [String: String] = [:]
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values[String(parts[0])] = String(parts[1])
        }
        let typed: [(String, String?)] = [
            ("kafka.bootstrap_servers", bootstrapServers), ("kafka.group_id", groupID), ("topics.jobs", jobsTopic),
            ("topics.partials", partialsTopic), ("topics.completions", completionsTopic),
            ("topics.dead_letter", deadLetterTopic), ("concurrency", concurrency.map(String.init)),
            ("ordering", ordering),
        ]
        for case (let key, let value?) in typed { values[key] = value }
        return values
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "gigachat-worker")
        let configuration: WorkerConfiguration
        do {
            configuration = try await WorkerConfiguration.load(
                WorkerConfigurationSources(file: config, flags: flagValues, kafkaPropertyFlags: kafkaProperties)
            )
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
            .milliseconds(30), .milliseconds(50), .milliseconds(75), .milliseconds(100), .milliseconds(250),
            .milliseconds(1000),
        ]
        MetricsSystem.bootstrap(factory)
    }
}
