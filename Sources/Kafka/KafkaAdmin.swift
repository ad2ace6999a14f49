import Dispatch
import Logging

/// Administrative operations on a cluster (topic creation).
///
/// A value type over one librdkafka client, which is destroyed off the cooperative pool when the last copy is
/// dropped.
public struct KafkaAdmin: Sendable {
    private let owner: RDKafkaAdminOwner

    /// Creates an admin client.
    /// - Parameters:
    ///   - bootstrapServers: Brokers to bootstrap from, as `host:port`.
    ///   - properties: Raw librdkafka properties (SASL, SSL, ...), applied last. Default: none.
    ///   - logger: Receives librdkafka's logs (secret values scrubbed).
    /// - Throws: ``KafkaError`` `.config` naming a rejected property, `.libraryVersion` or `.clientCreation`.
    public init(bootstrapServers: [String], properties: [String: String] = [:], logger: Logger) throws(KafkaError) {
        let all =
            [("bootstrap.servers", bootstrapServers.joined(separator: ","))]
            + properties.sorted { $0.key < $1.key }
        let context = RDKafkaClientContext(logger: logger, secrets: RDKafkaConfig.secretValues(all))
        owner = RDKafkaAdminOwner(client: try RDKafkaClient.admin(properties: all, context: context))
    }

    /// Creates a topic; a topic that already exists is not an error (its settings are left as they are).
    /// - Parameters:
    ///   - name: The topic name.
    ///   - partitions: The number of partitions.
    ///   - replicationFactor: Copies of each partition. Default: 1.
    ///   - configs: Topic settings (`cleanup.policy`, `retention.ms`, ...). Default: none (the cluster's defaults).
    ///   - timeout: The longest wait for the cluster. Default: 30 s.
    /// - Throws: ``KafkaError`` `.topicCreation` (or `.timedOut`, `.transport`) when the cluster refused or did
    ///   not answer.
    public func createTopic(
        _ name: String,
        partitions: Int32,
        replicationFactor: Int16 = 1,
        configs: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) async throws(KafkaError) {
        let client = owner.client
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        )
        let failure: KafkaError? = await DedicatedThread.run(on: owner.queue) {
            client.createTopic(
                name,
                partitions: partitions,
                replicationFactor: replicationFactor,
                configs: configs,
                milliseconds: milliseconds
            )
        }
        if let failure { throw failure }
    }
}
