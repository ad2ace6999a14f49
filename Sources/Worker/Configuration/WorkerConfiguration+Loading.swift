import Configuration
import Foundation
import GigaChat
import Kafka
import SystemPackage

/// Where `gigachat-worker run` takes its settings from, highest precedence first: flags, environment, YAML file.
public struct WorkerConfigurationSources: Sendable {
    /// The YAML file (`--config`), if any.
    public var file: String?
    /// The process environment.
    public var environment: [String: String]
    /// Settings given as flags, by key (`kafka.bootstrap_servers` -> `host:port,host:port`).
    public var flags: [String: String]
    /// librdkafka properties given as flags (`-X key=value`), added after those of the file and environment.
    public var kafkaPropertyFlags: [String]

    /// Creates the sources.
    public init(
        file: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        flags: [String: String] = [:],
        kafkaPropertyFlags: [String] = []
    ) {
        self.file = file
        self.environment = environment
        self.flags = flags
        self.kafkaPropertyFlags = kafkaPropertyFlags
    }
}

extension WorkerConfiguration {
    /// Every setting's key, as written in the YAML file. The environment name is the key upper-cased with `_` for
    /// `.`: `GIGACHAT_WORKER_` + that for the worker's own keys (`GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS`), and
    /// the official SDK's names for `gigachat.*` (`GIGACHAT_CREDENTIALS`, `GIGACHAT_BASE_URL`, ...).
    public static let keys: [String] =
        [
            "kafka.bootstrap_servers", "kafka.group_id", "kafka.client_id", "kafka.assignment", "kafka.session_timeout",
            "kafka.commit_interval", "kafka.properties", "kafka.consumer_properties", "kafka.producer_properties",
            "topics.jobs", "topics.partials", "topics.completions", "topics.dead_letter", "topics.fleet",
            "concurrency", "ordering", "buffer.max_jobs", "buffer.max_bytes",
            "jobs.max_bytes", "jobs.timeout", "jobs.stream", "partials.interval", "partials.max_bytes",
            "retry.max_attempts", "retry.initial_backoff", "retry.max_backoff", "structured.corrections",
            "cache.session_id", "embeddings.model", "embeddings.max_inputs",
            "shutdown.drain_timeout", "rebalance.drain_timeout", "worker.id",
            "metrics.enabled", "metrics.host", "metrics.port", "logging.content",
            "gigachat.account_concurrency", "gigachat.requests_per_minute", "gigachat.tokens_per_minute",
            "flow.budget", "flow.lease", "flow.rotation", "flow.adaptive",
        ] + gigachatKeys

    /// The `gigachat.*` keys, named after the official SDK's environment variables.
    public static let gigachatKeys: [String] = [
        "gigachat.credentials", "gigachat.scope", "gigachat.access_token", "gigachat.user", "gigachat.password",
        "gigachat.base_url", "gigachat.auth_url", "gigachat.model", "gigachat.api", "gigachat.profanity_check",
        "gigachat.flags",
        "gigachat.timeout", "gigachat.verify_ssl_certs", "gigachat.ca_bundle_file", "gigachat.cert_file",
        "gigachat.key_file", "gigachat.key_file_password", "gigachat.max_connections",
        "gigachat.token_expiry_buffer_ms", "gigachat.proxy",
    ]

    /// Keys whose values are secrets: never printed, logged or put in errors.
    public static let secretKeys: Set<String> = [
        "gigachat.credentials", "gigachat.access_token", "gigachat.password", "gigachat.key_file_password",
        "gigachat.proxy",
    ]

    /// The environment variable a key is read from.
    public static func environmentName(of key: String) -> String {
        let name = key.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
        return key.hasPrefix("gigachat.") ? name : "GIGACHAT_WORKER_" + name
    }

    /// Loads the configuration: defaults, then the YAML file, then the environment, then flags, each overriding
    /// the ones before, through swift-configuration's providers; librdkafka property lists are merged instead
    /// (a property set later wins). Validated before it is returned.
    /// - Throws: ``WorkerConfigurationError`` naming the key, the problem and what is allowed, with every further
    ///   problem (unknown keys from any source, invalid values, failed checks) in its `others`.
    public static func load(_ sources: WorkerConfigurationSources) async throws -> WorkerConfiguration {
        let layers = try await ConfigurationLayers(sources)
        var configuration = WorkerConfiguration()
        configuration.apply(layers)
        var problems = layers.problems
        do {
            try configuration.validate()
        } catch {
            problems += error.all
        }
        if let combined = WorkerConfigurationError(combining: problems) { throw combined }
        return configuration
    }

    /// Where each key's value comes from (`flag`, `environment`, `file` or `default`), for `config print`.
    public static func origins(_ sources: WorkerConfigurationSources) async throws -> [String: String] {
        let layers = try await ConfigurationLayers(sources)
        var result: [String: String] = [:]
        for key in keys { result[key] = layers.origin(of: key) }
        return result
    }

    private mutating func apply(_ values: ConfigurationLayers) {
        if let servers = values.list("kafka.bootstrap_servers") { kafka.bootstrapServers = servers }
        if let text = values.string("kafka.group_id") { kafka.groupID = text }
        if let text = values.string("kafka.client_id") { kafka.clientID = text }
        if let text = values.string("kafka.assignment") {
            switch text {
            case "cooperative-sticky": kafka.assignment = .cooperativeSticky
            case "range": kafka.assignment = .range
            case "roundrobin": kafka.assignment = .roundRobin
            default:
                values.record(
                    WorkerConfigurationError(
                        key: "kafka.assignment",
                        problem: "is \"\(text)\"",
                        allowed: "cooperative-sticky, range, roundrobin"
                    )
                )
            }
        }
        if let text = values.string("cache.session_id") {
            if let mode = PromptSession.Mode(rawValue: text) {
                sessionMode = mode
            } else {
                values.record(
                    WorkerConfigurationError(key: "cache.session_id", problem: "is \"\(text)\"", allowed: "prefix, off")
                )
            }
        }
        if let duration = values.duration("kafka.session_timeout") { kafka.sessionTimeout = duration }
        if let duration = values.duration("kafka.commit_interval") { kafka.commitInterval = duration }
        kafka.properties = values.properties("kafka.properties", extra: values.kafkaPropertyFlags)
        kafka.consumerProperties = values.properties("kafka.consumer_properties")
        kafka.producerProperties = values.properties("kafka.producer_properties")
        if let text = values.string("topics.jobs") { topics.jobs = text }
        if let text = values.string("topics.partials") { topics.partials = text }
        if let text = values.string("topics.completions") { topics.completions = text }
        if let text = values.string("topics.dead_letter") { topics.deadLetter = text }
        if let text = values.string("topics.fleet") { topics.fleet = text }
        if let number = values.int("concurrency") { concurrency = number }
        if let text = values.string("ordering") {
            if let ordering = Ordering(rawValue: text) {
                self.ordering = ordering
            } else {
                values.record(
                    WorkerConfigurationError(key: "ordering", problem: "is \"\(text)\"", allowed: "unordered, per-key")
                )
            }
        }
        if let number = values.int("buffer.max_jobs") { maxBufferedJobs = number }
        if let number = values.int("buffer.max_bytes") { maxBufferedBytes = number }
        if let number = values.int("jobs.max_bytes") { maxJobBytes = number }
        if let duration = values.duration("jobs.timeout") { jobTimeout = duration }
        if let flag = values.bool("jobs.stream") { streamByDefault = flag }
        if let duration = values.duration("partials.interval") { partialsInterval = duration }
        if let number = values.int("partials.max_bytes") { partialsMaxBytes = number }
        if let number = values.int("retry.max_attempts") { maxAttempts = number }
        if let number = values.int("structured.corrections") { structuredCorrections = number }
        if let text = values.string("embeddings.model") { embeddingsModel = text }
        if let number = values.int("embeddings.max_inputs") { embeddingsMaxInputs = number }
        if let duration = values.duration("retry.initial_backoff") { initialBackoff = duration }
        if let duration = values.duration("retry.max_backoff") { maxBackoff = duration }
        if let duration = values.duration("shutdown.drain_timeout") { drainTimeout = duration }
        if let duration = values.duration("rebalance.drain_timeout") { rebalanceDrainTimeout = duration }
        if let text = values.string("worker.id") { workerID = text }
        if let number = values.int("gigachat.account_concurrency") { accountConcurrency = number }
        if let number = values.double("gigachat.requests_per_minute") { requestsPerMinute = number }
        if let number = values.double("gigachat.tokens_per_minute") { tokensPerMinute = number }
        if let text = values.string("flow.budget") {
            if let budget = FleetBudget(rawValue: text) {
                fleetBudget = budget
            } else {
                values.record(
                    WorkerConfigurationError(
                        key: "flow.budget",
                        problem: "is \"\(text)\"",
                        allowed: "demand, partitions"
                    )
                )
            }
        }
        if let duration = values.duration("flow.lease") { fleetLease = duration }
        if let duration = values.duration("flow.rotation") { budgetRotation = duration }
        if let flag = values.bool("flow.adaptive") { adaptive = flag }
        if let flag = values.bool("metrics.enabled") { metricsEnabled = flag }
        if let flag = values.bool("logging.content") { logContent = flag }
        if let text = values.string("metrics.host") { metricsHost = text }
        if let number = values.int("metrics.port") { metricsPort = number }

        // The GigaChat settings: the SDK's variable names, so the client's own reader parses and checks them.
        var gigachatEnvironment: [String: String] = [:]
        for key in Self.gigachatKeys {
            if let value = values.string(key, isSecret: Self.secretKeys.contains(key)) {
                gigachatEnvironment[Self.environmentName(of: key)] = value
            }
        }
        for key in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"] {
            if let value = values.environment[key] { gigachatEnvironment[key] = value }
        }
        do {
            try gigachat.apply(environment: gigachatEnvironment)
        } catch let error as GigaChatError {
            values.record(WorkerConfigurationError(key: "gigachat", problem: error.message, allowed: "see the README"))
        } catch {
            values.record(WorkerConfigurationError(key: "gigachat", problem: "\(error)", allowed: "see the README"))
        }
        maxConnectionsIsExplicit = values.string("gigachat.max_connections") != nil
    }
}
