import CRdKafka

/// librdkafka's mock cluster (`rd_kafka_mock_cluster_new`), hosted in the test process and listening on 127.0.0.1
/// on free ports: brokers that clients of this process or of child processes (a worker started as the executable)
/// reach through ``bootstrapServers``.
///
/// The Kafka layer's unit tests use it where no Tansu is needed; the worker's end-to-end suite uses it where Tansu
/// falls short: Tansu 0.6 drops the metadata committed with an offset, which the worker's offset map rides in.
/// Its brokers do not serve CreateTopics: create topics with ``createTopic(_:partitions:replicationFactor:)``.
///
/// Ownership: the cluster is destroyed in `deinit`, then the host client it runs in.
public final class MockKafkaCluster: @unchecked Sendable {
    // `@unchecked Sendable`: both pointers are set once; the mock cluster API is thread-safe.
    private let host: OpaquePointer
    private let cluster: OpaquePointer
    /// The brokers' addresses, for `bootstrap.servers`.
    public let bootstrapServers: String

    /// Starts a cluster of `brokers` brokers.
    public init(brokers: Int32 = 3) throws {
        let configuration = rd_kafka_conf_new()
        var error = [CChar](repeating: 0, count: 512)
        // The host client only carries the cluster: its own warnings (it has no bootstrap servers) are noise.
        _ = rd_kafka_conf_set(configuration, "log_level", "3", &error, error.count)
        guard let host = rd_kafka_new(RD_KAFKA_PRODUCER, configuration, &error, error.count) else {
            throw HarnessError("librdkafka could not create the mock cluster's host client: \(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))")
        }
        guard let cluster = rd_kafka_mock_cluster_new(host, brokers) else {
            rd_kafka_destroy(host)
            throw HarnessError("librdkafka could not start a mock cluster")
        }
        self.host = host
        self.cluster = cluster
        bootstrapServers = String(cString: rd_kafka_mock_cluster_bootstraps(cluster))
    }

    /// Creates a topic directly in the mock cluster.
    public func createTopic(_ name: String, partitions: Int32, replicationFactor: Int32 = 1) throws {
        let err = rd_kafka_mock_topic_create(cluster, name, partitions, replicationFactor)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw HarnessError("mock topic \"\(name)\": \(String(cString: rd_kafka_err2str(err)))")
        }
    }

    deinit {
        rd_kafka_mock_cluster_destroy(cluster)
        rd_kafka_destroy(host)
    }
}
