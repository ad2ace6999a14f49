import Foundation
import Logging
import TestSupport
import Synchronization
import Testing

@testable import Kafka

/// A log handler that keeps every line (message and metadata) for assertions.
final class RecordingLogHandlerStore: Sendable {
    let lines = Mutex<[String]>([])

    func logger(level: Logger.Level = .trace) -> Logger {
        var logger = Logger(label: "kafka-tests") { _ in RecordingLogHandler(store: self) }
        logger.logLevel = level
        return logger
    }
}

struct RecordingLogHandler: LogHandler {
    let store: RecordingLogHandlerStore
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let extra = (event.metadata ?? [:]).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        store.lines.withLock { $0.append("\(event.level) \(event.message) \(extra)") }
    }
}

/// A quiet logger for tests that do not look at logs (warnings only, to stderr).
let testLogger: Logger = {
    var logger = Logger(label: "kafka-tests")
    logger.logLevel = .warning
    return logger
}()

/// One mock cluster (three in-process brokers) shared by the clients of a test.
struct TestCluster {
    let mock: MockKafkaCluster
    var bootstrap: [String] { [mock.bootstrapServers] }

    init() throws {
        mock = try MockKafkaCluster(brokers: 3)
    }

    func createTopic(partitions: Int32 = 1) async throws -> String {
        let name = "topic-\(UUID().uuidString.prefix(8))"
        // librdkafka's mock brokers do not serve CreateTopics (KafkaAdmin is tested against Tansu end to end).
        try mock.createTopic(name, partitions: partitions)
        return name
    }

    func producer() throws -> KafkaProducer {
        try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: testLogger)
    }

    func consumerConfiguration(group: String) -> KafkaConsumerConfiguration {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupID: group)
        configuration.sessionTimeout = .seconds(6)
        return configuration
    }

    /// A consumer of this cluster in `group` (not yet subscribed).
    func consumer(group: String) throws -> KafkaConsumer {
        try KafkaConsumer(configuration: self.consumerConfiguration(group: group), logger: testLogger)
    }
}

/// Reads `count` messages, failing the test (not hanging) if the sequence ends first.
func read(_ count: Int, from consumer: KafkaConsumer) async throws -> [KafkaConsumerMessage] {
    var result: [KafkaConsumerMessage] = []
    for try await message in consumer.messages {
        result.append(message)
        if result.count == count { break }
    }
    try #require(result.count == count, "messages ended after \(result.count) of \(count)")
    return result
}

/// The first event matching `predicate`.
func firstEvent(
    of consumer: KafkaConsumer,
    where predicate: (KafkaConsumerEvent) -> Bool
) async throws -> KafkaConsumerEvent {
    for await event in consumer.events where predicate(event) { return event }
    throw KafkaError(code: .closed, message: "events ended")
}

extension KafkaConsumerEvent {
    var assignedPartitions: [KafkaTopicPartition]? {
        if case .assigned(let partitions) = self { return partitions }
        return nil
    }

    var revokedPartitions: [KafkaTopicPartition]? {
        if case .revoked(let partitions) = self { return partitions }
        return nil
    }
}

/// The next message if one arrives within `window`, else `nil` (then the wait is cancelled).
///
/// An error of the consumer is thrown, not taken for silence: "nothing arrives" checks must fail when the
/// consumer failed.
func nextMessage(of consumer: KafkaConsumer, within window: Duration) async throws -> KafkaConsumerMessage? {
    try await withThrowingTaskGroup(of: KafkaConsumerMessage?.self) { group in
        group.addTask {
            var iterator = consumer.messages.makeAsyncIterator()
            return try await iterator.next()
        }
        group.addTask {
            try? await Task.sleep(for: window)
            return nil
        }
        defer { group.cancelAll() }
        return try await group.next() ?? nil
    }
}

/// Lets a revocation handler reach the consumer it was given to (the handler is made before the consumer).
final class ConsumerBox: Sendable {
    private let stored = Mutex<KafkaConsumer?>(nil)
    var consumer: KafkaConsumer? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}

/// What a revocation handler saw: the partitions, and whether storing their offsets succeeded.
final class RevocationLog: Sendable {
    struct Entry: Sendable {
        var partitions: [KafkaTopicPartition]
        var stored: Bool
    }

    private let stored = Mutex<[Entry]>([])
    var entries: [Entry] { stored.withLock { $0 } }

    func record(_ partitions: [KafkaTopicPartition], stored success: Bool) {
        stored.withLock { $0.append(Entry(partitions: partitions, stored: success)) }
    }
}
