import Foundation
import Kafka
import Logging
import Synchronization
import Worker
import WireFormat

/// Reads the worker's output topics from the beginning (its own consumer group) and keeps what it saw.
final class OutputCollector: Sendable {
    struct Completion: Sendable {
        var record: CompletionRecord
        var topic: String
        var headers: [KafkaHeader]
        var timestamp: Date?
    }

    struct State: Sendable {
        var completions: [Completion] = []
        var partials: [PartialRecord] = []
        var deadLetters: [KafkaConsumerMessage] = []
        var undecodable: [String] = []
        /// Records already kept, by place: the collector commits nothing, so when its group loses it (a frozen
        /// broker) it reads its topics again from the beginning, and a record read twice is kept once.
        var seen: Set<RecordPlace> = []
    }

    struct RecordPlace: Hashable, Sendable {
        var topic: String
        var partition: Int32
        var offset: Int64
    }

    /// The state, in a class of its own so that the reading task can hold it.
    private final class Store: Sendable {
        let state = Mutex(State())
        func withLock<T>(_ body: (inout State) -> T) -> T { state.withLock { body(&$0) } }
    }

    private let consumer: KafkaConsumer
    private let state = Store()
    private let task: Task<Void, Never>

    init(
        bootstrap: String,
        topics: [String],
        partialsTopic: String,
        deadLetterTopic: String,
        logger: Logger
    ) throws {
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: [bootstrap],
            groupID: "collector-\(UUID().uuidString)"
        )
        configuration.sessionTimeout = .seconds(6)
        configuration.properties["topic.metadata.refresh.interval.ms"] = "1000"
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        try consumer.subscribe(topics: topics)
        self.consumer = consumer
        let state = self.state
        task = Task {
            let decoder = JSONDecoder()
            do {
                for try await message in consumer.messages {
                    let place = RecordPlace(topic: message.topic, partition: message.partition, offset: message.offset)
                    guard state.withLock({ $0.seen.insert(place).inserted }) else { continue }
                    let bytes = Data(message.value ?? [])
                    if message.topic == deadLetterTopic {
                        state.withLock { $0.deadLetters.append(message) }
                    } else if message.topic == partialsTopic {
                        if let partial = try? decoder.decode(PartialRecord.self, from: bytes) {
                            state.withLock { $0.partials.append(partial) }
                        } else {
                            state.withLock { $0.undecodable.append(String(decoding: bytes, as: UTF8.self)) }
                        }
                    } else if let completion = try? decoder.decode(CompletionRecord.self, from: bytes) {
                        let entry = Completion(
                            record: completion,
                            topic: message.topic,
                            headers: message.headers,
                            timestamp: message.timestamp
                        )
                        state.withLock { $0.completions.append(entry) }
                    } else {
                        state.withLock { $0.undecodable.append(String(decoding: bytes, as: UTF8.self)) }
                    }
                }
            } catch {
                state.withLock { $0.undecodable.append("consumer failed: \(error)") }
            }
        }
    }

    var snapshot: State { state.withLock { $0 } }

    /// Waits until `condition` holds or `timeout` passes; returns whether it held.
    func wait(timeout: Duration, until condition: (State) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if condition(snapshot) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return condition(snapshot)
    }

    /// Waits until completions for every id in `ids` arrived.
    func waitForCompletions(of ids: Set<String>, timeout: Duration) async throws -> Bool {
        try await wait(timeout: timeout) { state in ids.isSubset(of: Set(state.completions.map(\.record.id))) }
    }

    func close() async throws {
        try await consumer.close()
        await task.value
    }

    /// The text the partials of `attemptID` rebuild, in `seq` order, and whether their seqs are 0..<n with the
    /// last one final.
    func rebuilt(attemptID: String) -> (text: String, complete: Bool) {
        let partials = snapshot.partials.filter { $0.attemptID == attemptID }.sorted { $0.seq < $1.seq }
        let complete = partials.map(\.seq) == Array(0..<partials.count) && partials.last?.isFinal == true
        return (partials.map(\.delta).joined(), complete)
    }
}
