import Kafka
import Metrics

/// The consumer's gauges, every `interval`: `gigachat_worker_partitions_assigned`, and
/// `gigachat_worker_consumer_lag{topic, partition}`: for each partition this worker owns, the records not yet done:
/// the high watermark librdkafka last saw minus the contiguous done offset (or, before any work, the read
/// position). Partitions given up are set to 0, so a fleet's sum stays the group's lag.
struct KafkaMetricsReporter: Sendable {
    let consumer: ConsumerReference
    let tracker: OffsetTracker
    let metrics: WorkerMetrics
    let interval: Duration

    func run() async {
        var reported: Set<KafkaTopicPartition> = []
        while !Task.isCancelled {
            guard let consumer = consumer.consumer else { return }
            // The tracker's ownerships follow the consumer's assignment and revocation hooks.
            let assigned = tracker.ownedPartitions
            metrics.partitionsAssigned.record(assigned.count)
            let progress = consumer.readProgress(of: assigned)
            let done = tracker.committable
            for partition in assigned {
                guard let entry = progress[partition], let processed = done[partition] ?? entry.position else { continue }
                gauge(partition).record(max(0, entry.highWatermark - processed))
            }
            for partition in reported.subtracting(assigned) { gauge(partition).record(0) }
            reported = Set(assigned)
            try? await Task.sleep(for: interval)
        }
    }

    private func gauge(_ partition: KafkaTopicPartition) -> Gauge {
        Gauge(
            label: "gigachat_worker_consumer_lag",
            dimensions: [("topic", partition.topic), ("partition", String(partition.partition))]
        )
    }
}
