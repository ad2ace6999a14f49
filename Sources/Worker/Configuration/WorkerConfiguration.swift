import Foundation
import GigaChat
import Kafka
import WireFormat

/// Everything `gigachat-worker run` is configured with. Defaults are documented per field; ``validate()`` checks
/// the values once, before anything connects. Load it with ``WorkerConfiguration/load(from:)`` (YAML < environment
/// < flags).
public struct WorkerConfiguration: Sendable {
    /// Kafka connection and group settings.
    public struct Kafka: Sendable {
        /// `kafka.bootstrap_servers`: brokers as `host:port`. Required.
        public var bootstrapServers: [String] = []
        /// `kafka.group_id`: the consumer group. Default: `gigachat-worker`.
        public var groupID = "gigachat-worker"
        /// `kafka.client_id`: sent to brokers. Default: `gigachat-worker`.
        public var clientID = "gigachat-worker"
        /// `kafka.assignment`: `cooperative-sticky` (only moved partitions are revoked, so a rebalance does not
        /// interrupt long generations on the others), `range` or `roundrobin`. Default: `cooperative-sticky`.
        public var assignment: KafkaPartitionAssignment = .cooperativeSticky
        /// `kafka.session_timeout`: `session.timeout.ms`. Default: librdkafka's (45 s).
        public var sessionTimeout: Duration?
        /// `kafka.commit_interval`: how often stored watermarks (`auto.commit.interval.ms`) and the offset maps that
        /// grew under a still watermark are committed; both are also committed on revocation and shutdown.
        /// Default: 1 s.
        public var commitInterval: Duration = .seconds(1)
        /// `kafka.properties`: librdkafka properties for the consumer and the producer (`key=value`), applied
        /// after the typed settings (SASL, SSL, ...).
        public var properties: [String: String] = [:]
        /// `kafka.consumer_properties`: librdkafka properties for the consumer only, applied last.
        public var consumerProperties: [String: String] = [:]
        /// `kafka.producer_properties`: librdkafka properties for the producer only, applied last.
        public var producerProperties: [String: String] = [:]

        public init() {}
    }

    /// Topic names.
    public struct Topics: Sendable {
        /// `topics.jobs`. Default: `gigachat.jobs`.
        public var jobs = "gigachat.jobs"
        /// `topics.partials`. Default: `gigachat.partials`.
        public var partials = "gigachat.partials"
        /// `topics.completions` (unless a job names a reply topic). Default: `gigachat.completions`.
        public var completions = "gigachat.completions"
        /// `topics.dead_letter`. Default: the jobs topic + `.DLT` (Spring Kafka's convention).
        public var deadLetter: String?

        /// `topics.fleet`: where the workers sharing one GigaChat account report their demand (with
        /// `gigachat.account_concurrency` and `flow.budget: demand`). Workers of several job topics that share one
        /// account set the same one. Default: the jobs topic + `.fleet`.
        public var fleet: String?

        /// The dead-letter topic in effect.
        public var effectiveDeadLetter: String { deadLetter ?? jobs + ".DLT" }
        /// The fleet topic in effect.
        public var effectiveFleet: String { fleet ?? jobs + ".fleet" }

        public init() {}
    }

    /// How the fleet shares the account's concurrency (`flow.budget`).
    public enum FleetBudget: String, Sendable, CaseIterable {
        /// The units follow the work: every worker reports its demand on the fleet topic, and a worker with nothing to
        /// run holds nothing.
        case demand
        /// The units are laid on the jobs topic's partitions and rotate every `flow.rotation` (no fleet topic).
        case partitions
    }

    /// How jobs are scheduled.
    public enum Ordering: String, Sendable, CaseIterable {
        /// Any job runs as soon as a slot is free.
        case unordered
        /// Jobs with the same key run one at a time, in offset order; different keys run in parallel.
        case perKey = "per-key"
    }

    /// `concurrency`: GigaChat requests in flight at most. Default: 10.
    public var concurrency = 10
    /// `ordering`: `unordered` or `per-key`. Default: `unordered`.
    public var ordering: Ordering = .unordered
    /// `buffer.max_jobs`: jobs taken from Kafka and not started, at most. Default: 1000.
    public var maxBufferedJobs = 1000
    /// `buffer.max_bytes`: bytes of such jobs at most. Default: 64 MiB.
    public var maxBufferedBytes = 64 << 20
    /// `jobs.max_bytes`: the largest job value accepted; larger ones go to the dead-letter topic. Default: 1 MiB.
    public var maxJobBytes = 1 << 20
    /// `jobs.timeout`: how much of its own time a job may take: from its start (its first GigaChat slot), not
    /// counting its waits for the account (a slot while the circuit is open or the limit lowered, the rate
    /// budget). A job's own `deadline` ends it too, whichever comes first. Default: 10 minutes.
    public var jobTimeout: Duration = .seconds(600)
    /// `jobs.stream`: whether jobs that do not say are streamed (partials published). Default: `false`.
    public var streamByDefault = false
    /// `partials.interval`: how long a streamed delta may wait to be coalesced. Default: 100 ms.
    public var partialsInterval: Duration = .milliseconds(100)
    /// `partials.max_bytes`: pending text that is published at once. Default: 4096.
    public var partialsMaxBytes = 4096
    /// `retry.max_attempts`: attempts per job for transient failures (429, 5xx, connection loss, cut streams).
    /// Default: 10.
    public var maxAttempts = 10
    /// `retry.initial_backoff`: the first retry waits up to this (full jitter, doubling). Default: 500 ms.
    public var initialBackoff: Duration = .milliseconds(500)
    /// `retry.max_backoff`: the longest wait between attempts. Default: 30 s.
    public var maxBackoff: Duration = .seconds(30)
    /// `structured.corrections`: corrective attempts for an answer that breaks its job's `response_format` (not
    /// JSON, not the schema, not the regular expression), each telling the model what was wrong. Default: 1.
    public var structuredCorrections = 1
    /// `embeddings.model`: the model of embeddings jobs that do not name one. Default: `Embeddings`.
    public var embeddingsModel = "Embeddings"
    /// `embeddings.max_inputs`: the most texts one embeddings job may carry (1-1024); their vectors travel in one
    /// completion, so raise it together with the producer's `message.max.bytes`. Default: 32.
    public var embeddingsMaxInputs = JobDecoder.defaultMaxEmbeddingsInputs
    /// `cache.session_id`: the `X-Session-ID` of jobs without their own `session_id`: `prefix` (one id per shared
    /// prompt prefix, so GigaChat's prefix cache serves it; see ``PromptSession``) or `off`. Default: `prefix`.
    public var sessionMode: PromptSession.Mode = .prefix
    /// `shutdown.drain_timeout`: on SIGTERM/SIGINT, how long running jobs may finish. Default: 30 s.
    public var drainTimeout: Duration = .seconds(30)
    /// `rebalance.drain_timeout`: on revocation, how long the revoked partitions' running jobs may finish
    /// before they are cancelled (the group's rebalance waits this long at most). Default: 10 s.
    public var rebalanceDrainTimeout: Duration = .seconds(10)
    /// `gigachat.account_concurrency`: the GigaChat account's stream limit (1 for personal accounts, 10 by default
    /// for businesses), shared by every worker of the fleet: each worker's bound follows from its share of the jobs
    /// topic's partitions. `nil`: each worker uses `concurrency` alone. Default: `nil`.
    public var accountConcurrency: Int?
    /// `gigachat.requests_per_minute`: the account's request rate, split across the fleet like the concurrency.
    /// Default: `nil` (none).
    public var requestsPerMinute: Double?
    /// `gigachat.tokens_per_minute`: the account's token rate (prompt estimated before the call, corrected with the
    /// answer's usage), split across the fleet. Default: `nil` (none).
    public var tokensPerMinute: Double?
    /// `flow.rotation`: how long budget units stay on a partition before moving on (when they do not divide evenly
    /// among the partitions). Default: 30 s.
    public var budgetRotation: Duration = .seconds(30)
    /// `flow.budget`: how the fleet shares `gigachat.account_concurrency`. Default: `demand`.
    public var fleetBudget: FleetBudget = .demand
    /// `flow.lease`: how long a worker's demand counts without a new report (a killed worker's units return to the
    /// others after this). Default: 3 s.
    public var fleetLease: Duration = .seconds(3)
    /// `flow.adaptive`: halve the limit on 429, grow it back by one per round of successes. Default: on when
    /// `gigachat.account_concurrency` is set.
    public var adaptive: Bool?
    /// `logging.content`: log each job's prompt and answer at debug level (for debugging; they are never logged
    /// otherwise). Default: `false`.
    public var logContent = false
    /// `metrics.enabled`: serve `/metrics`, `/healthz` and `/readyz`. Default: `true`.
    public var metricsEnabled = true
    /// `metrics.host`: the address the operations port binds. Default: `127.0.0.1` (containers set `0.0.0.0`).
    public var metricsHost = "127.0.0.1"
    /// `metrics.port`: the operations port; 0 picks a free one. Default: 9464.
    public var metricsPort = 9464
    /// `worker.id`: names this worker in dead letters and logs. Default: `<hostname>-<pid>`.
    public var workerID = WorkerConfiguration.defaultWorkerID
    /// Kafka settings.
    public var kafka = Kafka()
    /// Topics.
    public var topics = Topics()
    /// GigaChat client settings (`gigachat.*`, the SDK's `GIGACHAT_*` environment names).
    public var gigachat = GigaChatConfiguration()
    /// Whether `gigachat.max_connections` was set explicitly; otherwise it follows `concurrency`.
    public var maxConnectionsIsExplicit = false

    /// A configuration with every default (bootstrap servers still to be set).
    public init() {}

    /// `<hostname>-<pid>`.
    public static var defaultWorkerID: String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// The GigaChat client settings the worker uses: no client-level retries (the worker retries whole
    /// attempts, so `attempts` counts them and partials restart), and a connection pool sized from
    /// `concurrency` unless set.
    public var effectiveGigaChat: GigaChatConfiguration {
        var gigachat = self.gigachat
        gigachat.retry.maxRetries = 0
        if !maxConnectionsIsExplicit { gigachat.maxConnections = max(concurrency + 4, 8) }
        return gigachat
    }

    /// Checks every value once.
    /// - Throws: ``WorkerConfigurationError`` naming the key, the problem and what is allowed, with every further
    ///   problem in ``WorkerConfigurationError/others``.
    public func validate() throws(WorkerConfigurationError) {
        func fail(_ key: String, _ problem: String, _ allowed: String) -> WorkerConfigurationError {
            WorkerConfigurationError(key: key, problem: problem, allowed: allowed)
        }
        var problems: [WorkerConfigurationError] = []
        if kafka.bootstrapServers.isEmpty {
            problems.append(fail("kafka.bootstrap_servers", "is not set", "a list of host:port"))
        }
        for server in kafka.bootstrapServers where !server.contains(":") {
            problems.append(fail("kafka.bootstrap_servers", "\"\(server)\" has no port", "host:port"))
        }
        if kafka.groupID.isEmpty { problems.append(fail("kafka.group_id", "is empty", "a consumer group name")) }
        for (key, topic) in [
            ("topics.jobs", topics.jobs), ("topics.partials", topics.partials),
            ("topics.completions", topics.completions), ("topics.dead_letter", topics.effectiveDeadLetter),
            ("topics.fleet", topics.effectiveFleet),
        ] where !JobDecoder.isLegalTopicName(topic) {
            problems.append(fail(key, "\"\(topic)\" is not a legal topic name", "1-249 of a-z A-Z 0-9 . _ -"))
        }
        if topics.effectiveDeadLetter == topics.jobs {
            problems.append(fail("topics.dead_letter", "is the jobs topic", "another topic"))
        }
        if !(1...10_000).contains(concurrency) {
            problems.append(fail("concurrency", "is \(concurrency)", "1...10000"))
        }
        if maxBufferedJobs < 1 { problems.append(fail("buffer.max_jobs", "is \(maxBufferedJobs)", "at least 1")) }
        if maxBufferedBytes < 1024 {
            problems.append(fail("buffer.max_bytes", "is \(maxBufferedBytes)", "at least 1024"))
        }
        if maxJobBytes < 64 { problems.append(fail("jobs.max_bytes", "is \(maxJobBytes)", "at least 64")) }
        if jobTimeout <= .zero { problems.append(fail("jobs.timeout", "is not positive", "a positive duration")) }
        if partialsInterval < .zero {
            problems.append(fail("partials.interval", "is negative", "a duration of 0 or more"))
        }
        if partialsMaxBytes < 1 { problems.append(fail("partials.max_bytes", "is \(partialsMaxBytes)", "at least 1")) }
        if !(1...1000).contains(maxAttempts) {
            problems.append(fail("retry.max_attempts", "is \(maxAttempts)", "1...1000"))
        }
        if !(1...1024).contains(embeddingsMaxInputs) {
            problems.append(fail("embeddings.max_inputs", "is \(embeddingsMaxInputs)", "1...1024"))
        }
        if !(0...10).contains(structuredCorrections) {
            problems.append(fail("structured.corrections", "is \(structuredCorrections)", "0...10"))
        }
        if initialBackoff < .zero || maxBackoff < initialBackoff {
            problems.append(
                fail("retry.max_backoff", "is below retry.initial_backoff", "max_backoff >= initial_backoff >= 0")
            )
        }
        if drainTimeout < .zero {
            problems.append(fail("shutdown.drain_timeout", "is negative", "a duration of 0 or more"))
        }
        if let accountConcurrency, !(1...10_000).contains(accountConcurrency) {
            problems.append(fail("gigachat.account_concurrency", "is \(accountConcurrency)", "1...10000"))
        }
        if let requestsPerMinute, !(requestsPerMinute > 0) {
            problems.append(fail("gigachat.requests_per_minute", "is \(requestsPerMinute)", "a positive number"))
        }
        if let tokensPerMinute, !(tokensPerMinute > 0) {
            problems.append(fail("gigachat.tokens_per_minute", "is \(tokensPerMinute)", "a positive number"))
        }
        if fleetLease < .seconds(1) || fleetLease > .seconds(60) {
            problems.append(fail("flow.lease", "is \(fleetLease.secondsDouble) s", "1 s ... 60 s"))
        }
        let otherTopics = [topics.jobs, topics.partials, topics.completions, topics.effectiveDeadLetter]
        if otherTopics.contains(topics.effectiveFleet) {
            problems.append(
                fail(
                    "topics.fleet",
                    "is \"\(topics.effectiveFleet)\", a topic of jobs or outputs",
                    "a topic of its own"
                )
            )
        }
        if budgetRotation <= .zero { problems.append(fail("flow.rotation", "is not positive", "a positive duration")) }
        if !(0...65535).contains(metricsPort) {
            problems.append(fail("metrics.port", "is \(metricsPort)", "0...65535"))
        }
        if rebalanceDrainTimeout < .zero {
            problems.append(fail("rebalance.drain_timeout", "is negative", "a duration of 0 or more"))
        }
        do {
            try effectiveGigaChat.validate()
        } catch let error as GigaChatError {
            problems.append(fail("gigachat", error.message, "see the GIGACHAT_* settings in the README"))
        } catch {
            problems.append(fail("gigachat", "\(error)", "see the GIGACHAT_* settings in the README"))
        }
        if let combined = WorkerConfigurationError(combining: problems) { throw combined }
    }
}
