import GigaChat
import Kafka

extension WorkerConfiguration {
    /// What a secret's value is shown as.
    public static let redacted = "<redacted>"

    /// Every key with its effective value as text, in ``keys`` order, for `config print`; secrets are
    /// ``redacted`` when set (and librdkafka properties whose name says they are secret: `*password*`,
    /// `*secret*`, `*.key*`, `sasl.oauthbearer.config`).
    public var describedValues: [(key: String, value: String)] {
        let gigachat = effectiveGigaChat
        func duration(_ value: Duration?) -> String { value.map(Self.text(of:)) ?? "-" }
        func optional(_ value: (some CustomStringConvertible)?) -> String { value.map { "\($0)" } ?? "-" }
        func secret(_ value: String?) -> String { value == nil ? "-" : Self.redacted }
        func properties(_ values: [String: String]) -> String {
            values.keys.sorted().map { "\($0)=\(Self.isSecretProperty($0) ? Self.redacted : values[$0] ?? "")" }
                .joined(separator: ",")
        }
        let assignment: String =
            switch kafka.assignment {
            case .range: "range"
            case .roundRobin: "roundrobin"
            case .cooperativeSticky: "cooperative-sticky"
            }
        let values: [String: String] = [
            "kafka.bootstrap_servers": kafka.bootstrapServers.joined(separator: ","),
            "kafka.group_id": kafka.groupID,
            "kafka.client_id": kafka.clientID,
            "kafka.assignment": assignment,
            "kafka.session_timeout": duration(kafka.sessionTimeout),
            "kafka.commit_interval": duration(kafka.commitInterval),
            "kafka.properties": properties(kafka.properties),
            "kafka.consumer_properties": properties(kafka.consumerProperties),
            "kafka.producer_properties": properties(kafka.producerProperties),
            "topics.jobs": topics.jobs,
            "topics.partials": topics.partials,
            "topics.completions": topics.completions,
            "topics.dead_letter": topics.effectiveDeadLetter,
            "topics.fleet": topics.effectiveFleet,
            "concurrency": "\(concurrency)",
            "ordering": ordering.rawValue,
            "buffer.max_jobs": "\(maxBufferedJobs)",
            "buffer.max_bytes": "\(maxBufferedBytes)",
            "jobs.max_bytes": "\(maxJobBytes)",
            "jobs.timeout": duration(jobTimeout),
            "jobs.stream": "\(streamByDefault)",
            "partials.interval": duration(partialsInterval),
            "partials.max_bytes": "\(partialsMaxBytes)",
            "retry.max_attempts": "\(maxAttempts)",
            "structured.corrections": "\(structuredCorrections)",
            "cache.session_id": sessionMode.rawValue,
            "embeddings.model": embeddingsModel,
            "embeddings.max_inputs": "\(embeddingsMaxInputs)",
            "retry.initial_backoff": duration(initialBackoff),
            "retry.max_backoff": duration(maxBackoff),
            "shutdown.drain_timeout": duration(drainTimeout),
            "rebalance.drain_timeout": duration(rebalanceDrainTimeout),
            "worker.id": workerID,
            "metrics.enabled": "\(metricsEnabled)",
            "logging.content": "\(logContent)",
            "metrics.host": metricsHost,
            "metrics.port": "\(metricsPort)",
            "gigachat.account_concurrency": optional(accountConcurrency),
            "gigachat.requests_per_minute": optional(requestsPerMinute),
            "gigachat.tokens_per_minute": optional(tokensPerMinute),
            "flow.budget": fleetBudget.rawValue,
            "flow.lease": duration(fleetLease),
            "flow.rotation": duration(budgetRotation),
            "flow.adaptive": "\(adaptive ?? (accountConcurrency != nil))",
            "gigachat.credentials": secret(gigachat.credentials),
            "gigachat.scope": gigachat.scope,
            "gigachat.access_token": secret(gigachat.accessToken),
            "gigachat.user": optional(gigachat.user),
            "gigachat.password": secret(gigachat.password),
            "gigachat.base_url": gigachat.baseURL,
            "gigachat.auth_url": gigachat.authURL,
            "gigachat.model": gigachat.model,
            "gigachat.api": gigachat.api.rawValue,
            "gigachat.profanity_check": optional(gigachat.profanityCheck),
            "gigachat.flags": gigachat.flags.map { $0.joined(separator: ",") } ?? "-",
            "gigachat.timeout": duration(gigachat.timeouts.idle),
            "gigachat.verify_ssl_certs": "\(gigachat.tls.verifyCertificates)",
            "gigachat.ca_bundle_file": optional(gigachat.tls.caBundleFile),
            "gigachat.cert_file": optional(gigachat.tls.certificateFile),
            "gigachat.key_file": optional(gigachat.tls.keyFile),
            "gigachat.key_file_password": secret(gigachat.tls.keyFilePassword),
            "gigachat.max_connections": "\(gigachat.maxConnections)",
            "gigachat.token_expiry_buffer_ms": "\(gigachat.tokenExpiryBuffer.components.seconds * 1000)",
            "gigachat.proxy": gigachat.proxy == nil ? "-" : Self.redacted,
        ]
        return Self.keys.map { ($0, values[$0] ?? "-") }
    }

    /// Whether a librdkafka property holds a secret (passwords, keys, OAuth bearer settings).
    public static func isSecretProperty(_ name: String) -> Bool {
        let lower = name.lowercased()
        return lower.contains("password") || lower.contains("secret") || lower.hasSuffix(".key")
            || lower.contains(".key.") || lower.hasPrefix("sasl.oauthbearer.config") || lower.contains("key.pem")
    }

    /// `1500ms`, `30s`, `10m`: the shortest exact form.
    static func text(of duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        if milliseconds % 60_000 == 0, milliseconds > 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }
}
