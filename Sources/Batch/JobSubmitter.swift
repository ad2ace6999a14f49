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
        // The child tasks return a struct, not a tuple: the release build (Swift 6.3.1) of a task group of
        // `(String, Result<KafkaRecordMetadata, any Error>)` crashed in `swift_taskGroup_wait_next_throwing` while
        // copying the tuple out (found by make image-check; the debug build ran).
        await withTaskGroup(of: Answer.self) { group in
            for job in jobs {
                let record = KafkaProducerRecord(topic: topic, key: Array(job.id.utf8), value: job.bytes)
                group.addTask {
                    do {
                        return Answer(id: job.id, result: .success(try await producer.send(record)))
                    } catch {
                        return Answer(id: job.id, result: .failure(error))
                    }
                }
            }
            for await answer in group {
                switch answer.result {
                case .success(let metadata):
                    outcome.acknowledged.append(
                        Acknowledged(id: answer.id, partition: metadata.partition, offset: metadata.offset)
                    )
                case .failure(let error):
                    outcome.failures.append((answer.id, "\(error)"))
                }
                progress(outcome.acknowledged.count + outcome.failures.count)
            }
        }
        await producer.close(timeout: .seconds(10))
        return outcome
    }

    /// One job's acknowledgement or failure, as a child task returns it.
    private struct Answer: Sendable {
        var id: String
        var result: Result<KafkaRecordMetadata, any Error>
    }
}
