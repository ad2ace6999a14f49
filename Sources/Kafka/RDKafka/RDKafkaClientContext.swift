import CRdKafka
import Logging

/// What librdkafka's C callbacks reach through the client opaque (`rd_kafka_conf_set_opaque`).
///
/// Callbacks run on librdkafka's threads (logs) or on the client's poll thread (errors, rebalances, commit
/// results), so everything here is immutable or thread-safe: `Logger` is a value, the handlers are `@Sendable`
/// and touch only lock-protected state.
final class RDKafkaClientContext: Sendable {
    typealias RebalanceHandler =
        @Sendable (
            _ client: OpaquePointer, _ err: rd_kafka_resp_err_t,
            _ partitions: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        ) -> Void

    let logger: Logger
    /// Values of secret properties, scrubbed out of every log line and error text librdkafka produces.
    let secrets: [String]
    /// Consumers only: applies a rebalance (runs inside `rd_kafka_consumer_poll` on the poll thread).
    let onRebalance: RebalanceHandler?
    /// Errors librdkafka reports through `error_cb` (already logged).
    let onError: (@Sendable (KafkaError) -> Void)?

    init(
        logger: Logger,
        secrets: [String],
        onRebalance: RebalanceHandler? = nil,
        onError: (@Sendable (KafkaError) -> Void)? = nil
    ) {
        self.logger = logger
        self.secrets = secrets
        self.onRebalance = onRebalance
        self.onError = onError
    }

    func scrub(_ text: String) -> String {
        secrets.isEmpty ? text : RDKafkaConfig.scrub(text, secrets: secrets)
    }

    /// The context of a client handle; valid while the handle exists (the client releases it after destroy).
    static func of(_ client: OpaquePointer?) -> RDKafkaClientContext? {
        guard let client, let opaque = rd_kafka_opaque(client) else { return nil }
        return Unmanaged<RDKafkaClientContext>.fromOpaque(opaque).takeUnretainedValue()
    }

    /// syslog(3) levels as librdkafka uses them -> swift-log levels.
    static func logLevel(syslog level: Int32) -> Logger.Level {
        switch level {
        case ...2: .critical
        case 3: .error
        case 4: .warning
        case 5: .notice
        case 6: .info
        default: .debug
        }
    }
}
