import Foundation
import Kafka
import Synchronization
import TestSupport
import Testing

@Suite("Consumer offsets and flow control against Tansu", .timeLimit(.minutes(1)))
struct ConsumerOffsetTests {
    @Test func committedOffsetsSurviveAConsumerRestart() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("restart")
            let group = TestKafka.groupName("restart")
            try await TestKafka.createTopic(topic, partitions: 3, on: broker)
            let producer = try TestKafka.producer(broker)
            // 30 records per partition: ids 0..<90, id % 3 is the partition, id / 3 the offset.
            _ = try await TestKafka.produce(ids: 0..<90, to: topic, with: producer) { Int32($0 % 3) }

            let first = try TestKafka.consumer(broker, group: group)
            try first.subscribe(topics: [topic])
            let firstRecorder = ConsumerRecorder(first)
            let readAll = try await firstRecorder.waitForMessages(90, timeout: .seconds(30))
            #expect(readAll, "first consumer read \(firstRecorder.messages.count) of 90")
            // "Processed" the first 20 of each partition: commit the next offset to read, 20.
            let partitions = (0..<3).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
            try await first.commit(Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(20)) }))
            let committed = try await first.committed(partitions, timeout: .seconds(10))
            #expect(committed == Dictionary(uniqueKeysWithValues: partitions.map { ($0, Int64(20)) }))
            try await first.close()

            // 10 more per partition while no one is consuming: offsets 30..<40.
            _ = try await TestKafka.produce(ids: 90..<120, to: topic, with: producer) { Int32($0 % 3) }
            await producer.close(timeout: .seconds(5))

            let second = try TestKafka.consumer(broker, group: group)
            try second.subscribe(topics: [topic])
            let secondRecorder = ConsumerRecorder(second)
            let expected = Set(partitions.flatMap { partition in (20..<40).map { Position(partition, Int64($0)) } })
            let complete = try await secondRecorder.wait(timeout: .seconds(30)) { state in
                expected.isSubset(of: Set(state.deliveries.map { Position($0.message) }))
            }
            try await Task.sleep(for: .milliseconds(500))  // room for anything unexpected to arrive
            try await second.close()
            let positions = secondRecorder.messages.map(Position.init)
            #expect(complete, "second consumer saw \(Set(positions).intersection(expected).count) of 60 records")
            #expect(Set(positions) == expected, "only the records after the committed offsets")
            #expect(positions.count == expected.count, "each exactly once")
            #expect(positions.allSatisfy { $0.offset >= 20 })
        }
    }

    @Test(arguments: [KafkaPartitionAssignment.range, .cooperativeSticky])
    func aStartTimeSkipsTheRecordsBeforeIt(assignment: KafkaPartitionAssignment) async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("start-time")
            try await TestKafka.createTopic(topic, partitions: 2, on: broker)
            let producer = try TestKafka.producer(broker)
            // Old records, then (a clock tick apart) new ones: ids 0..<40 and 40..<60, id % 2 the partition.
            _ = try await TestKafka.produce(ids: 0..<40, to: topic, with: producer) { Int32($0 % 2) }
            try await Task.sleep(for: .milliseconds(50))
            let start = Date()
            try await Task.sleep(for: .milliseconds(50))
            _ = try await TestKafka.produce(ids: 40..<60, to: topic, with: producer) { Int32($0 % 2) }

            let consumer = try TestKafka.consumer(
                broker,
                group: TestKafka.groupName("start-time"),
                assignment: assignment
            ) {
                $0.startTime = start
            }
            try consumer.subscribe(topics: [topic])
            let recorder = ConsumerRecorder(consumer)
            #expect(try await recorder.waitForMessages(20, timeout: .seconds(30)))
            // Records produced later come too.
            _ = try await TestKafka.produce(ids: 60..<64, to: topic, with: producer) { Int32($0 % 2) }
            await producer.close(timeout: .seconds(5))
            #expect(try await recorder.waitForMessages(24, timeout: .seconds(30)))
            try await Task.sleep(for: .milliseconds(500))  // room for anything unexpected to arrive
            try await consumer.close()
            let ids = recorder.messages.compactMap(TestKafka.id(of:))
            #expect(
                ids.sorted() == Array(40..<64),
                "only the records at or after the start time, each once: \(ids.sorted())"
            )
            #expect(recorder.messages.allSatisfy { $0.offset >= 20 })
        }
    }

    @Test func anAssignmentWithoutAGroupReadsFromAStartTimeAtOnce() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("assign")
            try await TestKafka.createTopic(topic, partitions: 2, on: broker)
            let producer = try TestKafka.producer(broker)
            _ = try await TestKafka.produce(ids: 0..<10, to: topic, with: producer) { Int32($0 % 2) }
            try await Task.sleep(for: .milliseconds(50))
            let start = Date()
            try await Task.sleep(for: .milliseconds(50))
            _ = try await TestKafka.produce(ids: 10..<14, to: topic, with: producer) { Int32($0 % 2) }
            // The default session timeout: a group's join would take about 23 s on Tansu.
            var configuration = KafkaConsumerConfiguration(
                bootstrapServers: [broker.bootstrap],
                groupID: TestKafka.groupName("assign")
            )
            configuration.autoOffsetReset = .latest
            let consumer = try KafkaConsumer(configuration: configuration, logger: TestKafka.logger)
            let begun = ContinuousClock.now
            try await consumer.assign([KafkaTopicPartition(topic: topic, partition: 0)], startingAt: start)
            let recorder = ConsumerRecorder(consumer)
            #expect(try await recorder.waitForMessages(2, timeout: .seconds(30)))
            let waited = ContinuousClock.now - begun
            #expect(waited < .seconds(10), "read after \(waited), no group join")
            _ = try await TestKafka.produce(ids: 14..<18, to: topic, with: producer) { Int32($0 % 2) }
            await producer.close(timeout: .seconds(5))
            #expect(try await recorder.waitForMessages(4, timeout: .seconds(30)))
            try await Task.sleep(for: .milliseconds(500))
            #expect(try consumer.assignment == [KafkaTopicPartition(topic: topic, partition: 0)])
            try await consumer.close()
            let ids = recorder.messages.compactMap(TestKafka.id(of:)).sorted()
            #expect(ids == [10, 12, 14, 16], "partition 0 from the start time only: \(ids)")
        }
    }

    @Test(arguments: [KafkaPartitionAssignment.range, .cooperativeSticky])
    func offsetsStoredByTheRevocationHandlerAreCommittedBeforeTheNextOwnerReads(
        assignment: KafkaPartitionAssignment
    ) async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("revoke-commit")
            let group = TestKafka.groupName("revoke-commit")
            try await TestKafka.createTopic(topic, partitions: 2, on: broker)
            let producer = try TestKafka.producer(broker)
            // 10 records per partition: ids 0..<20, id % 2 is the partition.
            _ = try await TestKafka.produce(ids: 0..<20, to: topic, with: producer) { Int32($0 % 2) }

            let box = StoredConsumer()
            let handled = Mutex<[(KafkaConsumerRevocation, Bool)]>([])
            let first = try TestKafka.consumer(broker, group: group, assignment: assignment) {
                // Only the revocation commits within this test: the periodic commit is far away.
                $0.offsetCommit = .storedOffsets(interval: .seconds(600))
            } revocationHandler: { revocation in
                // "Processed" 7 records of each partition given up: the next owner starts at offset 7.
                let offsets = Dictionary(uniqueKeysWithValues: revocation.partitions.map { ($0, Int64(7)) })
                let stored = (try? box.consumer?.storeOffsets(offsets)) != nil
                handled.withLock { $0.append((revocation, stored)) }
            }
            box.consumer = first
            try first.subscribe(topics: [topic])
            let firstRecorder = ConsumerRecorder(first, name: "first")
            #expect(try await firstRecorder.waitForMessages(20, timeout: .seconds(30)))

            let second = try TestKafka.consumer(broker, group: group, assignment: assignment)
            try second.subscribe(topics: [topic])
            let secondRecorder = ConsumerRecorder(second, name: "second")
            let got = try await secondRecorder.wait(timeout: .seconds(30)) { $0.deliveries.count >= 3 }
            #expect(got, "the second member read \(secondRecorder.messages.count) records")
            let revocations = handled.withLock { $0 }
            #expect(!revocations.isEmpty && revocations.allSatisfy { $0.1 }, "stored inside the handler")
            #expect(revocations.allSatisfy { !$0.0.isLost })
            let fromSecond = secondRecorder.messages
            #expect(fromSecond.allSatisfy { $0.offset >= 7 }, "offsets \(fromSecond.map(\.offset))")
            try await second.close()
            try await first.close()
            await producer.close(timeout: .seconds(5))
        }
    }

    @Test func pauseStopsDeliveryAndResumeRestartsIt() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("pause")
            try await TestKafka.createTopic(topic, partitions: 1, on: broker)
            let partition = KafkaTopicPartition(topic: topic, partition: 0)
            let producer = try TestKafka.producer(broker)
            _ = try await TestKafka.produce(ids: 0..<10, to: topic, with: producer) { _ in 0 }

            let consumer = try TestKafka.consumer(broker, group: TestKafka.groupName("pause"))
            try consumer.subscribe(topics: [topic])
            let recorder = ConsumerRecorder(consumer)
            let before = try await recorder.waitForMessages(10, timeout: .seconds(30))
            #expect(before, "read \(recorder.messages.count) of the first 10")
            #expect(recorder.assignment.contains(partition))

            try consumer.pause([partition])
            _ = try await TestKafka.produce(ids: 10..<30, to: topic, with: producer) { _ in 0 }
            // Unpaused, new records arrive within a fetch wait (fetch.wait.max.ms = 500 ms); 2 s is ample.
            try await Task.sleep(for: .seconds(2))
            let whilePaused = recorder.messages.compactMap(TestKafka.id(of:)).filter { $0 >= 10 }
            #expect(whilePaused.isEmpty, "records produced after pause were delivered: \(whilePaused)")

            try consumer.resume([partition])
            let after = try await recorder.wait(timeout: .seconds(20)) { state in
                Set(state.deliveries.compactMap { TestKafka.id(of: $0.message) }).isSuperset(of: 10..<30)
            }
            await producer.close(timeout: .seconds(5))
            try await consumer.close()
            let ids = recorder.messages.compactMap(TestKafka.id(of:))
            #expect(after, "after resume read \(ids.filter { $0 >= 10 }.count) of 20")
            #expect(ids == Array(0..<30), "every record once, in order")
        }
    }
}

/// A record's place: topic, partition and offset.
struct Position: Hashable, Sendable, CustomStringConvertible {
    var partition: KafkaTopicPartition
    var offset: Int64

    init(_ partition: KafkaTopicPartition, _ offset: Int64) {
        self.partition = partition
        self.offset = offset
    }

    init(_ message: KafkaConsumerMessage) {
        self.init(message.topicPartition, message.offset)
    }

    var description: String { "\(partition.partition)/\(offset)" }
}

/// Lets a revocation handler reach the consumer it was given to (the handler is made before the consumer).
final class StoredConsumer: Sendable {
    private let stored = Mutex<KafkaConsumer?>(nil)
    var consumer: KafkaConsumer? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}
