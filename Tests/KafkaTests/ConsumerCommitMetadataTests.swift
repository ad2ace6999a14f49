import Foundation
import Synchronization
import Testing

@testable import Kafka

/// Offsets committed with metadata (the worker's offset map rides in it): stored, committed directly, and read
/// back, also from the assignment handler on the poll thread.
@Suite(.timeLimit(.minutes(1))) struct ConsumerCommitMetadataTests {
    private func committedPosition(
        of partition: KafkaTopicPartition,
        in consumer: KafkaConsumer,
        becoming expected: KafkaOffsetAndMetadata
    ) async throws -> KafkaOffsetAndMetadata? {
        var last: KafkaOffsetAndMetadata?
        for _ in 0..<50 {
            last = try await consumer.committedPositions([partition], timeout: .seconds(5))[partition]
            if last == expected { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        return last
    }

    @Test func metadataStoredOrCommittedWithAnOffsetComesBackWithIt() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        let producer = try cluster.producer()
        for index in 0..<5 { try producer.enqueue(KafkaProducerRecord(topic: topic, partition: 0, value: Array("m\(index)".utf8))) { _ in } }
        try await producer.flush(timeout: .seconds(20))
        await producer.close(timeout: .seconds(5))
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let group = "g-\(topic)"

        var configuration = cluster.consumerConfiguration(group: group)
        configuration.offsetCommit = .storedOffsets(interval: .milliseconds(100))
        let first = try KafkaConsumer(configuration: configuration, logger: testLogger)
        try first.subscribe(topics: [topic])
        _ = try await read(5, from: first)

        // Stored with the offset: librdkafka's periodic commit carries the metadata.
        let stored = KafkaOffsetAndMetadata(offset: 3, metadata: "gw1:3:Ag")
        try first.storeOffsets([partition: stored])
        #expect(try await committedPosition(of: partition, in: first, becoming: stored) == stored)

        // The same offset with new metadata is not committed by the periodic commit (the offset did not move), so
        // it is committed directly; stored too, or closing would commit the older stored metadata again.
        let changed = KafkaOffsetAndMetadata(offset: 3, metadata: "gw1:3:Bg")
        try first.storeOffsets([partition: changed])
        try first.commitAsync([partition: changed])
        #expect(try await committedPosition(of: partition, in: first, becoming: changed) == changed)
        try await first.close()

        // The next member reads it on the poll thread, before the partition's first message is handed out.
        let box = ConsumerBox()
        let seen = Mutex<[KafkaTopicPartition: KafkaOffsetAndMetadata]?>(nil)
        let second = try KafkaConsumer(
            configuration: cluster.consumerConfiguration(group: group),
            logger: testLogger,
            assignmentHandler: { partitions in
                let positions = try? box.consumer?.committedPositionsBlocking(partitions, timeout: .seconds(10))
                seen.withLock { $0 = positions }
            }
        )
        box.consumer = second
        try second.subscribe(topics: [topic])
        let next = try await read(1, from: second)
        #expect(next.first?.offset == 3)
        #expect(seen.withLock { $0 } == [partition: changed])
        try await second.close()
    }
}
