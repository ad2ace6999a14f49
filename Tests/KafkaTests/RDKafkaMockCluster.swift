import CRdKafka
import Logging

@testable import Kafka

/// Test support: librdkafka's in-process mock cluster (`rd_kafka_mock_cluster_new`), shared by several clients.
///
/// `test.mock.num.brokers` gives each client a cluster of its own; tests that produce with one client and
/// consume with another need this shared one and pass ``bootstrapServers`` to every client.
///
/// Ownership: the cluster is destroyed in `deinit`, before the host client it runs in (a stored property,
/// released after `deinit`).
final class RDKafkaMockCluster: @unchecked Sendable {
    // `@unchecked Sendable`: both pointers are set once; the mock cluster API is thread-safe.
    private let host: RDKafkaClient
    private let cluster: OpaquePointer
    /// The brokers' addresses, for `bootstrap.servers`.
    let bootstrapServers: String

    init(brokers: Int32 = 3, logger: Logger) throws(KafkaError) {
        host = try RDKafkaClient(
            type: RD_KAFKA_PRODUCER,
            properties: [],
            context: RDKafkaClientContext(logger: logger, secrets: [])
        )
        guard let cluster = rd_kafka_mock_cluster_new(host.handle, brokers) else {
            throw KafkaError(code: .clientCreation, message: "librdkafka could not start a mock cluster")
        }
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// Creates a topic directly in the mock cluster (the mock brokers do not serve CreateTopics requests).
    func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws(KafkaError) {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(err, fallback: .topicCreation, context: "Mock topic \"\(name)\"")
        }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
    }
}
