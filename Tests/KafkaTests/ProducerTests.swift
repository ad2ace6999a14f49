import CRdKafka
import Foundation
import Synchronization
import Testing

@testable import Kafka

@Suite(.timeLimit(.minutes(1))) struct ProducerTests {
    @Test func sendReturnsOffsetsAndConsumerReadsKeyHeadersAndBinaryValueBack() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        let producer = try cluster.producer()
        let binary: [UInt8] = [0x00, 0xff, 0x10, 0x00, 0x7f]
        let headers = [
            KafkaHeader(key: "job-id", value: Array("42".utf8)),
            KafkaHeader(key: "null-header", value: nil),
            KafkaHeader(key: "empty-header", value: []),
        ]
        let first = try await producer.send(
            KafkaProducerRecord(topic: topic, key: Array("key-1".utf8), value: binary, headers: headers)
        )
        let second = try await producer.send(KafkaProducerRecord(topic: topic, partition: 0, key: nil, value: []))
        #expect(first == KafkaRecordMetadata(topic: topic, partition: 0, offset: 0))
        #expect(second == KafkaRecordMetadata(topic: topic, partition: 0, offset: 1))
        await producer.close(timeout: .seconds(5))

        let consumer = try cluster.consumer(group: "g-\(topic)")
        try consumer.subscribe(topics: [topic])
        let messages = try await read(2, from: consumer)
        #expect(messages[0].topic == topic)
        #expect(messages[0].offset == 0)
        #expect(messages[0].key == Array("key-1".utf8))
        #expect(messages[0].value == binary)
        #expect(messages[0].headers == headers)
        #expect(messages[0].timestamp != nil)
        #expect(messages[1].offset == 1)
        #expect(messages[1].key == nil)
        #expect(messages[1].value == [])
        #expect(messages[1].headers.isEmpty)
        try await consumer.close()
    }

    @Test func enqueueReportsEveryRecordThroughItsCallback() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 3)
        let producer = try cluster.producer()
        let count = 2000
        let reports = Mutex<[KafkaRecordMetadata]>([])
        let failures = Mutex<[KafkaError]>([])
        let value = [UInt8](repeating: 0x61, count: 1024)
        for index in 0..<count {
            try producer.enqueue(KafkaProducerRecord(topic: topic, key: Array("k\(index)".utf8), value: value)) {
                result in
                switch result {
                case .success(let metadata): reports.withLock { $0.append(metadata) }
                case .failure(let error): failures.withLock { $0.append(error) }
                }
            }
        }
        try await producer.flush(timeout: .seconds(30))
        let delivered = reports.withLock { $0 }
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(delivered.count == count)
        // Every record got its own offset: per partition, offsets are 0..<n without gaps or repeats.
        let byPartition = Dictionary(grouping: delivered, by: \.partition)
        #expect(byPartition.keys.allSatisfy { (0..<3).contains($0) })
        for (_, records) in byPartition {
            #expect(records.map(\.offset).sorted() == Array(0..<Int64(records.count)))
        }
        await producer.close(timeout: .seconds(5))
    }

    @Test func concurrentSendsEachGetTheirOwnAcknowledgement() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 2)
        let producer = try cluster.producer()
        let metadata = try await withThrowingTaskGroup(of: KafkaRecordMetadata.self) { group in
            for index in 0..<500 {
                group.addTask {
                    try await producer.send(
                        KafkaProducerRecord(topic: topic, key: Array("k\(index)".utf8), value: [UInt8(index % 256)])
                    )
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(metadata.count == 500)
        #expect(Set(metadata).count == 500)  // no two records share a partition and offset
        let byPartition = Dictionary(grouping: metadata, by: \.partition)
        for (_, records) in byPartition {
            #expect(records.map(\.offset).sorted() == Array(0..<Int64(records.count)))
        }
        await producer.close(timeout: .seconds(5))
    }

    @Test func deliveryErrorsAreThrownFromSend() async throws {
        let cluster = try TestCluster()
        var configuration = KafkaProducerConfiguration(bootstrapServers: cluster.bootstrap)
        configuration.messageMaxBytes = 2000
        let producer = try KafkaProducer(configuration: configuration, logger: testLogger)
        let topic = try await cluster.createTopic(partitions: 1)
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(KafkaProducerRecord(topic: topic, value: [UInt8](repeating: 1, count: 10_000)))
        }
        #expect(error?.code == .messageTooLarge)
        #expect(error?.rdKafkaCode != nil)
        await producer.close(timeout: .seconds(5))
    }

    @Test func closeFailsLaterSendsAndIsIdempotent() async throws {
        let cluster = try TestCluster()
        let producer = try cluster.producer()
        let topic = try await cluster.createTopic()
        _ = try await producer.send(KafkaProducerRecord(topic: topic, value: [1]))
        await producer.close(timeout: .seconds(5))
        await producer.close(timeout: .seconds(5))
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(KafkaProducerRecord(topic: topic, value: [1]))
        }
        #expect(error?.code == .closed)
        #expect(throws: KafkaError.self) { try producer.enqueue(KafkaProducerRecord(topic: topic)) { _ in } }
    }

    @Test func closeReportsRecordsThatCouldNotBeDelivered() async throws {
        // Nothing listens on this port, so records stay queued until close purges them.
        var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
        configuration.properties["log_level"] = "0"
        let producer = try KafkaProducer(configuration: configuration, logger: testLogger)
        let reports = Mutex<[Result<KafkaRecordMetadata, KafkaError>]>([])
        for _ in 0..<10 {
            try producer.enqueue(KafkaProducerRecord(topic: "nowhere", value: [1])) { result in
                reports.withLock { $0.append(result) }
            }
        }
        await producer.close(timeout: .milliseconds(200))
        let results = reports.withLock { $0 }
        #expect(results.count == 10)
        #expect(results.allSatisfy { if case .failure(let error) = $0 { error.code == .closed } else { false } })
    }

    @Test func fatalErrorIsReportedOnceAndFailsLaterRecords() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        let reported = Mutex<[KafkaError]>([])
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: cluster.bootstrap),
            logger: testLogger,
            onFatalError: { error in reported.withLock { $0.append(error) } }
        )
        _ = try await producer.send(KafkaProducerRecord(topic: topic, value: [1]))
        #expect(producer.fatalError == nil)
        // librdkafka's test hook raises the fatal error an idempotent producer gets for a broken sequence.
        let client = try #require(producer.shared.client)
        _ = rd_kafka_test_fatal_error(client.handle, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER, "test")
        for _ in 0..<50 where reported.withLock({ $0.isEmpty }) {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(reported.withLock { $0.count } == 1)
        #expect(producer.fatalError?.isFatal == true)
        let error = await #expect(throws: KafkaError.self) {
            _ = try await producer.send(KafkaProducerRecord(topic: topic, value: [2]))
        }
        #expect(error?.isFatal == true)
        #expect(error?.code == .fatal)
        await producer.close(timeout: .seconds(5))
    }

    @Test func droppingAnUnclosedProducerStillReportsEveryRecord() async throws {
        let reports = Mutex<[KafkaError.Code]>([])
        do {
            var configuration = KafkaProducerConfiguration(bootstrapServers: ["127.0.0.1:1"])
            configuration.properties["log_level"] = "0"
            let producer = try KafkaProducer(configuration: configuration, logger: testLogger)
            for _ in 0..<5 {
                try producer.enqueue(KafkaProducerRecord(topic: "nowhere", value: [1])) { result in
                    if case .failure(let error) = result { reports.withLock { $0.append(error.code) } }
                }
            }
        }
        // The poll thread purges and reports in the background; wait for it, bounded.
        for _ in 0..<100 where reports.withLock({ $0.count }) < 5 {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(reports.withLock { $0 } == Array(repeating: .closed, count: 5))
    }
}

@Suite struct AdminTests {
    // librdkafka's mock brokers do not serve CreateTopics, so the request itself is covered by the end-to-end
    // tests against Tansu; here, how each topic's answer counts.
    @Test func topicThatAlreadyExistsCountsAsCreated() {
        #expect(
            RDKafkaClient.topicCreationFailure("t", RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS, "Topic 't' already exists.") == nil
        )
        #expect(RDKafkaClient.topicCreationFailure("t", RD_KAFKA_RESP_ERR_NO_ERROR, "") == nil)
    }

    @Test func otherTopicErrorsAreTopicCreationErrors() throws {
        let error = try #require(
            RDKafkaClient.topicCreationFailure("t", RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR, "too few brokers")
        )
        #expect(error.code == .topicCreation)
        #expect(error.rdKafkaCode == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR.rawValue)
        #expect(error.message.contains("too few brokers"))
        let timeout = try #require(RDKafkaClient.topicCreationFailure("t", RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, ""))
        #expect(timeout.code == .timedOut)
        #expect(timeout.isRetriable)
    }
}
