import Foundation
import TestSupport
import Kafka
import Logging

/// Shared set-up for the integration tests: clients configured for Tansu, fresh topic names, records with ids.
enum TestKafka {
    static let logger: Logger = {
        var logger = Logger(label: "kafka-integration-tests")
        // KAFKA_TEST_LOG_LEVEL=debug plus KAFKA_TEST_DEBUG=cgrp (librdkafka's `debug`) when diagnosing a failure.
        logger.logLevel =
            ProcessInfo.processInfo.environment["KAFKA_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
            ?? .warning
        return logger
    }()

    /// A topic name no other test uses.
    static func topicName(_ prefix: String) -> String {
        "\(prefix)-\(UUID().uuidString.lowercased())"
    }

    /// A consumer group name no other test uses.
    static func groupName(_ prefix: String) -> String {
        "\(prefix)-group-\(UUID().uuidString.lowercased())"
    }

    static func createTopic(_ name: String, partitions: Int32, on broker: TansuBroker) async throws {
        let admin = try KafkaAdmin(bootstrapServers: [broker.bootstrap], logger: logger)
        try await admin.createTopic(name, partitions: partitions)
    }

    static func producer(
        _ broker: TansuBroker,
        configure: (inout KafkaProducerConfiguration) -> Void = { _ in }
    ) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: [broker.bootstrap])
        configure(&configuration)
        return try KafkaProducer(configuration: configuration, logger: logger)
    }

    static func consumer(
        _ broker: TansuBroker,
        group: String,
        assignment: KafkaPartitionAssignment = .range,
        configure: (inout KafkaConsumerConfiguration) -> Void = { _ in },
        revocationHandler: (@Sendable (KafkaConsumerRevocation) -> Void)? = nil
    ) throws -> KafkaConsumer {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: [broker.bootstrap], groupID: group)
        // Tansu answers JoinGroup after about half of session.timeout.ms (45 s by default).
        configuration.sessionTimeout = .seconds(6)
        configuration.partitionAssignment = assignment
        if let debug = ProcessInfo.processInfo.environment["KAFKA_TEST_DEBUG"], !debug.isEmpty {
            configuration.properties["debug"] = debug
        }
        configure(&configuration)
        return try KafkaConsumer(configuration: configuration, logger: logger, revocationHandler: revocationHandler)
    }

    /// Produces records whose values are `id-<n>` for `ids`, to `partition(n)` (or the key partitioner when it
    /// returns nil, with key `key-<n>`), waits for all acknowledgements and returns where each id was stored.
    static func produce(
        ids: Range<Int>,
        to topic: String,
        with producer: KafkaProducer,
        partition: @Sendable (Int) -> Int32? = { _ in nil }
    ) async throws -> [Int: KafkaRecordMetadata] {
        let reports = DeliveryReports()
        for id in ids {
            let record = KafkaProducerRecord(
                topic: topic,
                partition: partition(id),
                key: Array("key-\(id)".utf8),
                value: Array("id-\(id)".utf8)
            )
            var attempts = 0
            while true {
                let error: KafkaError
                do {
                    try producer.enqueue(record) { result in reports.record(id: id, result) }
                    break
                } catch let thrown {
                    error = thrown
                }
                // librdkafka's local queue is full: wait a moment for acknowledgements and retry.
                guard error.code == .queueFull, attempts < 10_000 else { throw error }
                attempts += 1
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        try await producer.flush(timeout: .seconds(30))
        return try reports.all(expected: ids.count)
    }

    /// The id in a value written by ``produce(ids:to:with:partition:)``.
    static func id(of message: KafkaConsumerMessage) -> Int? {
        guard let value = message.value else { return nil }
        let text = String(decoding: value, as: UTF8.self)
        guard text.hasPrefix("id-") else { return nil }
        return Int(text.dropFirst(3))
    }
}
