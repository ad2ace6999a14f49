import CRdKafka

/// What only a consumer's poll thread touches: the batch being gathered and the pauses applied in librdkafka.
///
/// The rebalance callback runs inside `rd_kafka_consumer_poll`, on the same thread as the gathering loop, so it
/// can drop the gathered messages of revoked partitions before they are handed out.
///
/// `@unchecked Sendable`: it is reached from ``RDKafkaConsumerShared`` (which is `Sendable`), but every method is
/// called on the poll thread only — by the poll loop and by librdkafka callbacks that run inside its poll call.
final class RDKafkaConsumerPollThread: @unchecked Sendable {
    /// Messages polled since the last hand-over.
    private(set) var gathered: [KafkaConsumerMessage] = []
    private(set) var gatheredBytes = 0
    /// Partitions this thread has paused in librdkafka (application pause flag set there).
    private var applied: Set<KafkaTopicPartition> = []

    init() {
        gathered.reserveCapacity(2048)
    }

    func gather(_ message: KafkaConsumerMessage) {
        gathered.append(message)
        gatheredBytes += message.approximateSize
    }

    /// Hands the gathered messages over and starts a new batch.
    func takeGathered() -> [KafkaConsumerMessage] {
        defer {
            gathered.removeAll(keepingCapacity: true)
            gatheredBytes = 0
        }
        return gathered
    }

    func dropGathered(of partitions: Set<KafkaTopicPartition>) {
        gathered.removeAll { partitions.contains($0.topicPartition) }
        gatheredBytes = gathered.reduce(0) { $0 + $1.approximateSize }
    }

    /// Brings librdkafka's pause flags to `desired`: pauses what should be and is not, resumes what is and should
    /// not be (including partitions no longer assigned, whose flag librdkafka would otherwise keep).
    /// - Returns: Errors librdkafka reported, if any.
    func applyPauses(_ desired: Set<KafkaTopicPartition>, handle: OpaquePointer) -> [KafkaError] {
        var errors: [KafkaError] = []
        let toPause = desired.subtracting(applied)
        let toResume = applied.subtracting(desired)
        if !toPause.isEmpty {
            let result = RDKafkaTopicPartitionList(toPause).withPointer { rd_kafka_pause_partitions(handle, $0) }
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                errors.append(KafkaError.rdKafka(result, fallback: .partitionState, context: "Pause failed"))
            }
            applied.formUnion(toPause)
        }
        if !toResume.isEmpty {
            let result = RDKafkaTopicPartitionList(toResume).withPointer { rd_kafka_resume_partitions(handle, $0) }
            if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                errors.append(KafkaError.rdKafka(result, fallback: .partitionState, context: "Resume failed"))
            }
            applied.subtract(toResume)
        }
        return errors
    }
}
