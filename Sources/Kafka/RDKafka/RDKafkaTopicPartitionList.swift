import CRdKafka

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Owns an `rd_kafka_topic_partition_list_t` built from Swift values; destroyed once, in `deinit`.
///
/// Lists librdkafka hands to callbacks are not wrapped in this class (librdkafka owns them); the static
/// helpers read those.
final class RDKafkaTopicPartitionList {
    // Private: Swift may release an object right after its last use, so a pointer read from a temporary list
    // could dangle. `withPointer` keeps the list alive for the whole call.
    private let pointer: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>

    init(capacity: Int = 1) {
        pointer = rd_kafka_topic_partition_list_new(Int32(max(capacity, 1)))
    }

    convenience init(_ partitions: some Collection<KafkaTopicPartition>) {
        self.init(capacity: partitions.count)
        for partition in partitions { add(partition) }
    }

    convenience init(offsets: [KafkaTopicPartition: Int64]) {
        self.init(capacity: offsets.count)
        for (partition, offset) in offsets { add(partition, offset: offset) }
    }

    convenience init(positions: [KafkaTopicPartition: KafkaOffsetAndMetadata]) {
        self.init(capacity: positions.count)
        for (partition, position) in positions {
            let element = rd_kafka_topic_partition_list_add(pointer, partition.topic, partition.partition)!
            element.pointee.offset = position.offset
            if let metadata = position.metadata, !metadata.isEmpty {
                // librdkafka frees it with the list (`rd_free`, which is `free`).
                let bytes = Array(metadata.utf8)
                let copy = malloc(bytes.count)!
                bytes.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
                element.pointee.metadata = copy
                element.pointee.metadata_size = bytes.count
            }
        }
    }

    deinit {
        rd_kafka_topic_partition_list_destroy(pointer)
    }

    /// Calls `body` with the C list, which stays alive until `body` returns.
    @discardableResult
    func withPointer<Result, Failure: Error>(
        _ body: (UnsafeMutablePointer<rd_kafka_topic_partition_list_t>) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        defer { withExtendedLifetime(self) {} }
        return try body(pointer)
    }

    func add(_ partition: KafkaTopicPartition, offset: Int64? = nil) {
        let element = rd_kafka_topic_partition_list_add(pointer, partition.topic, partition.partition)!
        if let offset { element.pointee.offset = offset }
    }

    /// The elements of any list (owned by this class or by librdkafka).
    static func elements(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) -> UnsafeMutableBufferPointer<rd_kafka_topic_partition_t> {
        UnsafeMutableBufferPointer(start: list.pointee.elems, count: Int(list.pointee.cnt))
    }

    /// The metadata string of an element of any list (`nil` when it has none).
    static func metadata(of element: rd_kafka_topic_partition_t) -> String? {
        guard let bytes = element.metadata, element.metadata_size > 0 else { return nil }
        let buffer = UnsafeRawBufferPointer(start: bytes, count: element.metadata_size)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// The topic partitions of any list.
    static func partitions(_ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?) -> [KafkaTopicPartition] {
        guard let list else { return [] }
        return elements(list).map { KafkaTopicPartition(topic: String(cString: $0.topic), partition: $0.partition) }
    }

    /// The first per-partition error of any list, if there is one.
    static func firstError(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>
    ) -> (KafkaTopicPartition, rd_kafka_resp_err_t)? {
        for element in elements(list) where element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
            return (
                KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition), element.err
            )
        }
        return nil
    }
}
