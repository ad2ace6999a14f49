import Foundation
import Kafka
import Logging
import WireFormat

/// What a ``CompletionReader`` shows as it reads: each completion it kept, each partial of an expected job.
public protocol CompletionObserver: Sendable {
    /// A completion of an expected job was kept (`results` already counts it).
    mutating func completion(_ record: CompletionRecord, results: CollectedResults)
    /// A streamed piece of an expected job's answer (only when partials are followed).
    mutating func partial(_ partial: PartialRecord)
}

/// `collect`'s Kafka side: reads the completions topic (and the partials topic, when followed) with a consumer group
/// of its own, committing nothing, from a start time, until every expected job is answered or a deadline passes.
public struct CompletionReader: Sendable {
    private let consumer: KafkaConsumer
    private let partialsTopic: String?

    /// A reader, subscribed.
    /// - Parameters:
    ///   - bootstrapServers: The brokers.
    ///   - properties: librdkafka properties (SASL, TLS, ...), passed through.
    ///   - completionsTopic: Where completions are.
    ///   - partialsTopic: The partials topic to follow, if any.
    ///   - since: Read from this time on (each partition from its first record at or after it); `nil`: the beginning.
    ///   - logger: librdkafka's logs.
    public init(
        bootstrapServers: [String],
        properties: [String: String],
        completionsTopic: String,
        partialsTopic: String?,
        since: Date?,
        logger: Logger
    ) throws {
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: bootstrapServers,
            groupID: "gigachat-collect-\(UUID().uuidString.prefix(8).lowercased())"
        )
        configuration.autoOffsetReset = .earliest
        configuration.startTime = since
        // A group of its own, alone: the smallest session timeout brokers allow makes the join quick (Tansu answers
        // a join after half of it).
        configuration.sessionTimeout = .seconds(6)
        configuration.properties = properties
        // A fast reader of a possibly long topic: the consumer pauses fetching when its buffer is full and resumes
        // at half, and librdkafka fetches again only up to a second after a resume (its broker thread is not
        // woken), so the half left must last that second: 128 MiB, about 120,000 1 KiB completions. With the
        // default buffer (10,000 messages) reading 200,000 completions took 13 s instead of 3.
        configuration.messageBufferCapacity = 500_000
        configuration.messageBufferBytes = 256 << 20
        consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let followed = partialsTopic.flatMap { $0 == completionsTopic ? nil : $0 }
        self.partialsTopic = followed
        try consumer.subscribe(topics: [completionsTopic] + (followed.map { [$0] } ?? []))
    }

    /// Reads until every expected job has a completion or `deadline` passes.
    /// - Returns: The results as read (the last completion of an id wins).
    public func collect(
        _ results: CollectedResults,
        until deadline: ContinuousClock.Instant,
        observer: some CompletionObserver
    ) async throws -> CollectedResults {
        guard !results.expected.isEmpty else { return results }
        let messages = consumer.messages
        let partialsTopic = self.partialsTopic
        // One reader for the whole run, and a timer that cancels it at the deadline (a cancelled wait loses nothing
        // and ends the iteration).
        return try await withThrowingTaskGroup(of: CollectedResults?.self) { group in
            group.addTask {
                var results = results
                var observer = observer
                for try await message in messages {
                    let value = message.value ?? []
                    // Outputs are keyed by job id: another job's record is passed over without decoding it.
                    if let key = message.key, !results.isExpected(String(decoding: key, as: UTF8.self)) { continue }
                    if message.topic == partialsTopic {
                        if let partial = try? JSONDecoder().decode(PartialRecord.self, from: Data(value)),
                            results.isExpected(partial.id)
                        {
                            observer.partial(partial)
                        }
                        continue
                    }
                    guard let record = results.add(value) else { continue }
                    observer.completion(record, results: results)
                    if results.isComplete { break }
                }
                return results
            }
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                return nil
            }
            var collected = results
            while let next = try await group.next() {
                if let next { collected = next }
                group.cancelAll()
            }
            return collected
        }
    }

    /// Leaves the group.
    public func close() async {
        try? await consumer.close()
    }
}
