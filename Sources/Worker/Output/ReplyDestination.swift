import Kafka
import WireFormat

/// Where a job's completion goes: the Spring `kafka_replyTopic` header (and `kafka_replyPartition`, as Spring's
/// `ReplyingKafkaTemplate` sets them), else the job's `reply_to`, else the completions topic.
struct ReplyDestination: Sendable, Hashable {
    var topic: String
    var partition: Int32?

    init(topic: String, partition: Int32? = nil) {
        self.topic = topic
        self.partition = partition
    }

    init(admitted: AdmittedJob, completionsTopic: String) {
        if let header = admitted.headers.last(where: { $0.key == "kafka_replyTopic" })?.value,
            let topic = String(validating: header, as: UTF8.self), JobDecoder.isLegalTopicName(topic)
        {
            self.topic = topic
            // Spring writes the partition as a 4-byte big-endian integer.
            if let bytes = admitted.headers.last(where: { $0.key == "kafka_replyPartition" })?.value, bytes.count == 4 {
                self.partition = bytes.reduce(Int32(0)) { ($0 << 8) | Int32($1) }
            }
            return
        }
        self.topic = admitted.job.replyTo ?? completionsTopic
        self.partition = nil
    }
}
