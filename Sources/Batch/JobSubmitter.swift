import Kafka
import Logging

/// `submit`'s Kafka side: produces jobs to the jobs topic, keyed by job id (so a producer's partitioner spreads them
/// as any producer's would), and waits for every acknowledgement.
public struct JobSubmitter {
    /// Where a job was stored.
    public struct Acknowledged: Sendable, Hashable {
        public var id: String
        public var partition: Int32
        public var offset: Int64
    }

    /// What a submission did: the jobs stored, and the ones Kafka did not acknowledge, with why.
    public struct Outcome: Sendable {
        public var acknowledged: [Acknowledged] = []
        public var failures: [(id: String, message: String)] = []
    }

    private let producer: KafkaProducer

    /// A submitter with a producer of its own.
    /// - Parameters:
    ///   - bootstrapServers: The brokers.
    ///   - properties: librdkafka properties (SASL, TLS, ...), passed through.
    ///   - logger: librdkafka's logs.
    public init(bootstrapServers: [String], properties: [String: String], logger: Logger) throws {
        var configuration = KafkaProducerConfiguration(bootstrapServers: bootstrapServers)
        configuration.properties = properties
        producer = try KafkaProducer(configuration: configuration, logger: logger)
    }

    /// Produces every job, all at once, and waits for each acknowledgement; then closes the producer.
    /// - Parameter progress: Called in the caller's task after each answer (acknowledged or failed), with the count.
    public func submit(_ jobs: [BatchJob], to topic: String, progress: (Int) -> Void = { _ in }) async -> Outcome {
        var outcome = Outcome()
        let producer = self.producer
        await withTaskGroup(of: (String, Result<KafkaRecordMetadata, any Error>).self) { group in
            for job in jobs {
                let record = KafkaProducerRecord(topic: topic, key: Array(job.id.utf8), value: job.bytes)
                group.addTask {
                    do {
                        return (job.id, .success(try await producer.send(record)))
                    } catch {
                        return (job.id, .failure(error))
                    }
                }
            }
            for await (id, result) in group {
                switch result {
                case .success(let metadata):
                    outcome.acknowledged.append(Acknowledged(id: id, partition: metadata.partition, offset: metadata.offset))
                case .failure(let error):
                    outcome.failures.append((id, "\(error)"))
                }
                progress(outcome.acknowledged.count + outcome.failures.count)
            }
        }
        await producer.close(timeout: .seconds(10))
        return outcome
    }
}
