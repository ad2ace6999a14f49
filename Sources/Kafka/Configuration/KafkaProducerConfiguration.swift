/// Settings of a ``KafkaProducer``.
///
/// Typed fields cover the common settings; `properties` passes any librdkafka property through (SASL, SSL,
/// `acks`, `queue.buffering.max.messages`, ...) and is applied last, so it wins over the typed fields.
/// The description and mirror redact secret property values (passwords, secrets, private keys).
public struct KafkaProducerConfiguration: Sendable {
    /// Brokers to bootstrap from, as `host:port` (`bootstrap.servers`).
    public var bootstrapServers: [String]
    /// The client id sent to brokers (`client.id`). Default: `nil` (librdkafka's `rdkafka`).
    public var clientID: String?
    /// Idempotent producing: no duplicates or reordering from retries (`enable.idempotence`). Default: `true`.
    public var idempotence: Bool
    /// How long to wait for more records before sending a batch (`linger.ms`). Default: `nil` (librdkafka's 5 ms).
    public var linger: Duration?
    /// The largest record the client sends (`message.max.bytes`). Default: `nil` (librdkafka's 1000000).
    public var messageMaxBytes: Int?
    /// Compression codec: `none`, `gzip`, `snappy`, `lz4`, `zstd` (`compression.type`). Default: `nil` (none).
    public var compression: String?
    /// Raw librdkafka properties, applied after the typed fields.
    public var properties: [String: String]

    /// Creates a configuration with the defaults above.
    /// - Parameter bootstrapServers: Brokers to bootstrap from, as `host:port`.
    public init(bootstrapServers: [String]) {
        self.bootstrapServers = bootstrapServers
        self.clientID = nil
        self.idempotence = true
        self.linger = nil
        self.messageMaxBytes = nil
        self.compression = nil
        self.properties = [:]
    }

    /// The librdkafka properties this configuration sets, in the order they are applied.
    var rdKafkaProperties: [(String, String)] {
        var result: [(String, String)] = [("bootstrap.servers", bootstrapServers.joined(separator: ","))]
        if let clientID { result.append(("client.id", clientID)) }
        result.append(("enable.idempotence", idempotence ? "true" : "false"))
        if let linger { result.append(("linger.ms", RDKafkaConfig.milliseconds(linger))) }
        if let messageMaxBytes { result.append(("message.max.bytes", String(messageMaxBytes))) }
        if let compression { result.append(("compression.type", compression)) }
        result.append(contentsOf: properties.sorted { $0.key < $1.key })
        return result
    }
}

// MARK: - KafkaProducerConfiguration + CustomStringConvertible

extension KafkaProducerConfiguration: CustomStringConvertible, CustomReflectable {
    /// The settings with secret values replaced by `[REDACTED]`.
    public var description: String {
        "KafkaProducerConfiguration(\(RDKafkaConfig.redactedDescription(rdKafkaProperties)))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["properties": RDKafkaConfig.redactedDescription(rdKafkaProperties)])
    }
}
