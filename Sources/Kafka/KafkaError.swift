import CRdKafka

/// The one error type of the `Kafka` module.
///
/// `code` says what failed in terms of this module; `rdKafkaCode` keeps librdkafka's own error code
/// (`rd_kafka_resp_err_t`) where there is one. Messages never contain secret configuration values.
public struct KafkaError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. Extensible: new codes may be added without breaking callers.
    ///
    /// Equality and hashing compare only the kind, not `rdKafkaCode`, so `error.code == .delivery` works
    /// whatever librdkafka code the delivery failed with.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Kind: String, Sendable {
            case config
            case clientCreation
            case topicCreation
            case delivery
            case messageTooLarge
            case unknownTopic
            case timedOut
            case transport
            case fatal
            case libraryVersion
            case closed
            case queueFull
            case commit
            case consumer
            case rebalance
            case partitionState
            case cancelled
        }

        fileprivate var kind: Kind
        /// librdkafka's error code (`rd_kafka_resp_err_t` raw value), when the failure came from librdkafka.
        public var rdKafkaCode: Int32?

        fileprivate init(_ kind: Kind, rdKafkaCode: Int32? = nil) {
            self.kind = kind
            self.rdKafkaCode = rdKafkaCode
        }

        /// A configuration property was unknown or had an invalid value, or the configuration is inconsistent.
        public static let config = Code(.config)
        /// librdkafka refused to create a client (`rd_kafka_new` failed).
        public static let clientCreation = Code(.clientCreation)
        /// A topic could not be created.
        public static let topicCreation = Code(.topicCreation)
        /// A record could not be produced or was not acknowledged by the broker.
        public static let delivery = Code(.delivery)
        /// A record is larger than `message.max.bytes` (client) or the broker's limit.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// The topic or partition does not exist.
        public static let unknownTopic = Code(.unknownTopic)
        /// An operation did not finish in time (including `message.timeout.ms` for records).
        public static let timedOut = Code(.timedOut)
        /// The broker connection failed or no broker was reachable.
        public static let transport = Code(.transport)
        /// librdkafka raised a fatal error: the client cannot be used any more and must be re-created.
        public static let fatal = Code(.fatal)
        /// The loaded librdkafka is older than this module supports.
        public static let libraryVersion = Code(.libraryVersion)
        /// The client was closed.
        public static let closed = Code(.closed)
        /// The producer's local queue is full (`queue.buffering.max.messages` / `.kbytes`); retry shortly.
        public static let queueFull = Code(.queueFull)
        /// Committing or reading committed offsets failed.
        public static let commit = Code(.commit)
        /// The consumer reported an error while fetching.
        public static let consumer = Code(.consumer)
        /// Applying a rebalance (assign / unassign) failed.
        public static let rebalance = Code(.rebalance)
        /// Pausing or resuming partitions, or reading the assignment, failed.
        public static let partitionState = Code(.partitionState)
        /// The waiting task was cancelled.
        public static let cancelled = Code(.cancelled)

        public var description: String { kind.rawValue }

        public static func == (lhs: Code, rhs: Code) -> Bool { lhs.kind == rhs.kind }
        public func hash(into hasher: inout Hasher) { hasher.combine(kind) }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human readable explanation; never contains secret configuration values.
    public var message: String
    /// Whether trying the same operation again may succeed (librdkafka's own judgement where it gives one).
    public var isRetriable: Bool
    /// Whether the client hit a fatal error and must be re-created.
    public var isFatal: Bool

    /// librdkafka's error code (`rd_kafka_resp_err_t` raw value), when the failure came from librdkafka.
    public var rdKafkaCode: Int32? { code.rdKafkaCode }

    /// Creates an error.
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: The explanation; it must not contain secrets.
    ///   - isRetriable: Whether retrying may succeed. Default: `false`.
    ///   - isFatal: Whether the client is unusable. Default: `false`.
    public init(code: Code, message: String, isRetriable: Bool = false, isFatal: Bool = false) {
        self.code = code
        self.message = message
        self.isRetriable = isRetriable
        self.isFatal = isFatal
    }

    public var description: String {
        var text = "KafkaError.\(code): \(message)"
        if let rdKafkaCode = code.rdKafkaCode {
            text += " (rdkafka \(rdKafkaCode)"
            if let name = rd_kafka_err2name(rd_kafka_resp_err_t(rdKafkaCode)) {
                text += " \(String(cString: name))"
            }
            text += ")"
        }
        if isFatal { text += " [fatal]" }
        return text
    }
}

// MARK: - Mapping librdkafka errors

extension KafkaError {
    /// An error for a librdkafka response code; `fallback` names the operation when the code says nothing more
    /// specific (a timeout, an unknown topic, ...).
    static func rdKafka(
        _ err: rd_kafka_resp_err_t,
        fallback: Code,
        context: String? = nil
    ) -> KafkaError {
        var code = Self.specificCode(for: err) ?? fallback
        code.rdKafkaCode = err.rawValue
        let reason = String(cString: rd_kafka_err2str(err))
        let message = context.map { "\($0): \(reason)" } ?? reason
        return KafkaError(
            code: code,
            message: message,
            isRetriable: Self.isRetriable(err),
            isFatal: err == RD_KAFKA_RESP_ERR__FATAL
        )
    }

    /// An error from an `rd_kafka_error_t`, which it destroys (the caller hands over ownership).
    static func consuming(
        _ error: OpaquePointer,
        fallback: Code,
        context: String? = nil
    ) -> KafkaError {
        defer { rd_kafka_error_destroy(error) }
        let err = rd_kafka_error_code(error)
        let isFatal = rd_kafka_error_is_fatal(error) != 0
        var code = isFatal ? Code.fatal : (Self.specificCode(for: err) ?? fallback)
        code.rdKafkaCode = err.rawValue
        let reason = rd_kafka_error_string(error).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(err))
        return KafkaError(
            code: code,
            message: context.map { "\($0): \(reason)" } ?? reason,
            isRetriable: rd_kafka_error_is_retriable(error) != 0 || Self.isRetriable(err),
            isFatal: isFatal
        )
    }

    static func closed(_ what: String) -> KafkaError {
        KafkaError(code: .closed, message: "\(what) is closed")
    }

    private static func specificCode(for err: rd_kafka_resp_err_t) -> Code? {
        switch err {
        case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
            return .messageTooLarge
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC,
            RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
            return .unknownTopic
        case RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
            RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
            return .timedOut
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR__RESOLVE:
            return .transport
        case RD_KAFKA_RESP_ERR__FATAL:
            return .fatal
        case RD_KAFKA_RESP_ERR__QUEUE_FULL:
            return .queueFull
        case RD_KAFKA_RESP_ERR__DESTROY, RD_KAFKA_RESP_ERR__PURGE_QUEUE, RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
            return .closed
        default:
            return nil
        }
    }

    /// Codes for which trying again can succeed, for the places where librdkafka hands back only a code.
    static func isRetriable(_ err: rd_kafka_resp_err_t) -> Bool {
        switch err {
        case RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
            RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE,
            RD_KAFKA_RESP_ERR__RESOLVE, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
            RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
            RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
            RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART, RD_KAFKA_RESP_ERR_KAFKA_STORAGE_ERROR,
            RD_KAFKA_RESP_ERR_FETCH_SESSION_ID_NOT_FOUND, RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH,
            RD_KAFKA_RESP_ERR_FENCED_LEADER_EPOCH, RD_KAFKA_RESP_ERR_OFFSET_NOT_AVAILABLE,
            RD_KAFKA_RESP_ERR_THROTTLING_QUOTA_EXCEEDED, RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS:
            return true
        default:
            return false
        }
    }
}
