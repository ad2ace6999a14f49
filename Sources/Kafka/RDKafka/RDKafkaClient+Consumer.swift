import CRdKafka

// MARK: - RDKafkaClient + Consumer (the consumer API's C calls, for KafkaConsumer)
//
// Each returns librdkafka's answer as Swift values or a ``KafkaError``; the blocking ones (commit, committed,
// metadata) are run off the cooperative pool by ``KafkaConsumer``, or on the poll thread by its handlers.

extension RDKafkaClient {
    /// A consumer client: the rebalance and offset-commit callbacks set, errors and the other events of the main
    /// queue served by the consumer poll.
    static func consumer(properties: [(String, String)], context: RDKafkaClientContext) throws(KafkaError) -> RDKafkaClient {
        let client = try RDKafkaClient(type: RD_KAFKA_CONSUMER, properties: properties, context: context) { conf in
            rd_kafka_conf_set_rebalance_cb(conf, RDKafkaCallbacks.rebalance)
            rd_kafka_conf_set_offset_commit_cb(conf, RDKafkaCallbacks.offsetCommit)
        }
        rd_kafka_poll_set_consumer(client.handle)
        return client
    }

    /// Joins the group for these topics (`rd_kafka_subscribe`).
    func subscribe(topics: [String]) throws(KafkaError) {
        let list = RDKafkaTopicPartitionList(capacity: topics.count)
        for topic in topics { list.add(KafkaTopicPartition(topic: topic, partition: RD_KAFKA_PARTITION_UA)) }
        let result = list.withPointer { rd_kafka_subscribe(handle, $0) }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError.rdKafka(result, fallback: .consumer, context: "Subscribing to \(topics) failed")
        }
    }

    /// Commits positions (`rd_kafka_commit`): waits for the coordinator's answer unless `async`.
    func commit(_ positions: [KafkaTopicPartition: KafkaOffsetAndMetadata], async: Bool) -> KafkaError? {
        RDKafkaTopicPartitionList(positions: positions).withPointer { list in
            let result = rd_kafka_commit(handle, list, async ? 1 : 0)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                return KafkaError.rdKafka(result, fallback: .commit, context: "Commit failed")
            }
            // Per-partition results are known only when the call waited for them.
            if !async, let (partition, err) = RDKafkaTopicPartitionList.firstError(list) {
                return KafkaError.rdKafka(err, fallback: .commit, context: "Commit of \(partition) failed")
            }
            return nil
        }
    }

    /// Stores positions for the next automatic commit (`rd_kafka_offsets_store`; local, no request).
    func storeOffsets(_ positions: [KafkaTopicPartition: KafkaOffsetAndMetadata]) -> KafkaError? {
        RDKafkaTopicPartitionList(positions: positions).withPointer { list in
            let result = rd_kafka_offsets_store(handle, list)
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                return KafkaError.rdKafka(result, fallback: .commit, context: "Storing offsets failed")
            }
            if let (partition, err) = RDKafkaTopicPartitionList.firstError(list) {
                return KafkaError.rdKafka(err, fallback: .commit, context: "Storing the offset of \(partition) failed")
            }
            return nil
        }
    }

    /// The group's committed positions with their metadata (`rd_kafka_committed`, blocking); partitions without a
    /// committed offset are absent.
    func committed(
        _ partitions: [KafkaTopicPartition],
        milliseconds: Int32
    ) -> Result<[KafkaTopicPartition: KafkaOffsetAndMetadata], KafkaError> {
        RDKafkaTopicPartitionList(partitions).withPointer { list in
            let err = rd_kafka_committed(handle, list, milliseconds)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return .failure(KafkaError.rdKafka(err, fallback: .commit, context: "Reading committed offsets failed"))
            }
            var positions: [KafkaTopicPartition: KafkaOffsetAndMetadata] = [:]
            for element in RDKafkaTopicPartitionList.elements(list) where element.offset >= 0 {
                let partition = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
                positions[partition] = KafkaOffsetAndMetadata(
                    offset: element.offset,
                    metadata: RDKafkaTopicPartitionList.metadata(of: element)
                )
            }
            return .success(positions)
        }
    }

    /// The number of partitions of `topic`, from the cluster's metadata (`rd_kafka_metadata`, blocking).
    func partitionCount(of topic: String, milliseconds: Int32) -> Result<Int, KafkaError> {
        guard let topicHandle = rd_kafka_topic_new(handle, topic, nil) else {
            return .failure(KafkaError.rdKafka(rd_kafka_last_error(), fallback: .unknownTopic, context: "Topic \"\(topic)\""))
        }
        defer { rd_kafka_topic_destroy(topicHandle) }
        var metadata: UnsafePointer<rd_kafka_metadata_t>?
        let err = rd_kafka_metadata(handle, 0, topicHandle, &metadata, milliseconds)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            return .failure(KafkaError.rdKafka(err, fallback: .timedOut, context: "Metadata of \"\(topic)\""))
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        guard metadata.pointee.topic_cnt > 0 else {
            return .failure(KafkaError(code: .unknownTopic, message: "No metadata for topic \"\(topic)\""))
        }
        let entry = metadata.pointee.topics[0]
        guard entry.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            return .failure(KafkaError.rdKafka(entry.err, fallback: .unknownTopic, context: "Topic \"\(topic)\""))
        }
        return .success(Int(entry.partition_cnt))
    }

    /// Per partition with a known high watermark: it (`rd_kafka_get_watermark_offsets`, cached, no request), and
    /// the consumer's position (`rd_kafka_position`; `nil` before the first fetch).
    func readProgress(of partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: (highWatermark: Int64, position: Int64?)] {
        var result: [KafkaTopicPartition: (highWatermark: Int64, position: Int64?)] = [:]
        for partition in partitions {
            var low: Int64 = 0
            var high: Int64 = 0
            let err = rd_kafka_get_watermark_offsets(handle, partition.topic, partition.partition, &low, &high)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { continue }
            result[partition] = (high, nil)
        }
        RDKafkaTopicPartitionList(partitions).withPointer { pointer in
            guard rd_kafka_position(handle, pointer) == RD_KAFKA_RESP_ERR_NO_ERROR else { return }
            for element in RDKafkaTopicPartitionList.elements(pointer) where element.offset >= 0 {
                let partition = KafkaTopicPartition(topic: String(cString: element.topic), partition: element.partition)
                result[partition]?.position = element.offset
            }
        }
        return result
    }
}
