import Foundation
import Testing

@testable import Kafka

@Suite(.timeLimit(.minutes(1))) struct ConsumerTests {
    private func produce(_ count: Int, to topic: String, in cluster: TestCluster) async throws {
        let producer = try cluster.producer()
        for index in 0..<count {
            try producer.enqueue(KafkaProducerRecord(topic: topic, partition: 0, value: Array("m\(index)".utf8))) { _ in
            }
        }
        try await producer.flush(timeout: .seconds(20))
        await producer.close(timeout: .seconds(5))
    }

    @Test func reopenedConsumerResumesAfterTheCommittedOffset() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        try await produce(10, to: topic, in: cluster)
        let group = "g-\(topic)"
        let partition = KafkaTopicPartition(topic: topic, partition: 0)

        let first = try cluster.consumer(group: group)
        try first.subscribe(topics: [topic])
        let read1 = try await read(5, from: first)
        #expect(read1.map(\.offset) == [0, 1, 2, 3, 4])
        try await first.commit([partition: read1.last!.offset + 1])
        // A partition this member does not own is refused, not committed.
        let foreign = KafkaTopicPartition(topic: topic, partition: 7)
        let refused = await #expect(throws: KafkaError.self) { try await first.commit([foreign: 1]) }
        #expect(refused?.code == .commit)
        #expect(throws: KafkaError.self) { try first.commitAsync([foreign: 1]) }
        #expect(try await first.committed([partition], timeout: .seconds(10)) == [partition: 5])
        try await first.close()

        let second = try cluster.consumer(group: group)
        try second.subscribe(topics: [topic])
        let read2 = try await read(5, from: second)
        #expect(read2.map(\.offset) == [5, 6, 7, 8, 9])
        #expect(read2.map { String(decoding: $0.value!, as: UTF8.self) } == ["m5", "m6", "m7", "m8", "m9"])
        try await second.close()
    }

    @Test func uncommittedMessagesAreReadAgainByTheGroup() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        try await produce(3, to: topic, in: cluster)
        let group = "g-\(topic)"
        let first = try cluster.consumer(group: group)
        try first.subscribe(topics: [topic])
        #expect(try await read(3, from: first).map(\.offset) == [0, 1, 2])
        try await first.close()  // nothing committed: auto commit is off

        let second = try cluster.consumer(group: group)
        try second.subscribe(topics: [topic])
        #expect(try await read(3, from: second).map(\.offset) == [0, 1, 2])
        try await second.close()
    }

    @Test func partitionPausedBeforeAssignmentDeliversNothingUntilResumed() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        try await produce(3, to: topic, in: cluster)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let consumer = try cluster.consumer(group: "g-\(topic)")
        try consumer.pause([partition])  // before assignment: applied when assigned
        try consumer.subscribe(topics: [topic])
        let assigned = try await firstEvent(of: consumer) { !($0.assignedPartitions ?? []).isEmpty }
        #expect(assigned.assignedPartitions == [partition])
        #expect(try consumer.assignment == [partition])

        // While paused, nothing arrives within a generous window (the mock broker answers in milliseconds).
        #expect(await nextMessage(of: consumer, within: .seconds(2)) == nil)
        try consumer.resume([partition])
        #expect(try await read(3, from: consumer).map(\.offset) == [0, 1, 2])
        try await consumer.close()
    }

    @Test func pausingAConsumedPartitionStopsNewMessagesUntilResumed() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        try await produce(3, to: topic, in: cluster)
        let partition = KafkaTopicPartition(topic: topic, partition: 0)
        let consumer = try cluster.consumer(group: "g-\(topic)")
        try consumer.subscribe(topics: [topic])
        #expect(try await read(3, from: consumer).map(\.offset) == [0, 1, 2])
        try consumer.pause([partition])
        try await produce(3, to: topic, in: cluster)
        #expect(await nextMessage(of: consumer, within: .seconds(2)) == nil)
        try consumer.resume([partition])
        #expect(try await read(3, from: consumer).map(\.offset) == [3, 4, 5])
        try await consumer.close()
    }

    @Test func messagesOfAPausedPartitionThatArriveAnywayWaitForResume() async throws {
        // librdkafka can resume a partition on its own after a quick revoke and re-assign; the poll thread then
        // holds such messages back. Feed the consumer's buffer directly to see that path.
        let cluster = try TestCluster()
        let consumer = try cluster.consumer(group: "g-held")
        let paused = KafkaTopicPartition(topic: "t", partition: 0)
        try consumer.pause([paused])
        let client = try #require(consumer.shared.client)
        consumer.shared.deliver(
            [
                KafkaConsumerMessage(topic: "t", partition: 0, offset: 10),
                KafkaConsumerMessage(topic: "t", partition: 1, offset: 20),
                KafkaConsumerMessage(topic: "t", partition: 0, offset: 11),
            ],
            handle: client.handle
        )
        var iterator = consumer.messages.makeAsyncIterator()
        let first = try await iterator.next()
        #expect(first?.topicPartition == KafkaTopicPartition(topic: "t", partition: 1))
        #expect(await nextMessage(of: consumer, within: .milliseconds(300)) == nil)
        try consumer.resume([paused])
        #expect(try await iterator.next()?.offset == 10)
        #expect(try await iterator.next()?.offset == 11)
        try await consumer.close()
    }

    @Test func backPressureWithATinyBufferLosesAndReordersNothing() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        try await produce(500, to: topic, in: cluster)
        var configuration = cluster.consumerConfiguration(group: "g-\(topic)")
        configuration.messageBufferCapacity = 8
        let consumer = try KafkaConsumer(configuration: configuration, logger: testLogger)
        try consumer.subscribe(topics: [topic])
        var offsets: [Int64] = []
        for try await message in consumer.messages {
            offsets.append(message.offset)
            if offsets.count % 50 == 0 { try await Task.sleep(for: .milliseconds(20)) }  // a slow application
            if offsets.count == 500 { break }
        }
        #expect(offsets == Array(0..<500))
        try await consumer.close()
    }

    @Test(arguments: [KafkaPartitionAssignment.range, .roundRobin, .cooperativeSticky])
    func rebalanceEventsReportAssignmentAndRevocation(strategy: KafkaPartitionAssignment) async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 3)
        var configuration = cluster.consumerConfiguration(group: "g-\(topic)")
        configuration.partitionAssignment = strategy
        let consumer = try KafkaConsumer(configuration: configuration, logger: testLogger)
        try consumer.subscribe(topics: [topic])
        let all = (0..<3).map { KafkaTopicPartition(topic: topic, partition: $0) }
        var iterator = consumer.events.makeAsyncIterator()
        var assigned: [KafkaTopicPartition] = []
        while let event = await iterator.next() {
            if let partitions = event.assignedPartitions { assigned = partitions; break }
        }
        #expect(Set(assigned) == Set(all))
        #expect(Set(try consumer.assignment) == Set(all))

        try await consumer.close()
        var revoked: [KafkaTopicPartition] = []
        while let event = await iterator.next() {  // ends: close finishes the events
            if let partitions = event.revokedPartitions { revoked += partitions }
        }
        #expect(Set(revoked) == Set(all))
        #expect(throws: KafkaError.self) { _ = try consumer.assignment }
    }

    @Test(arguments: [KafkaPartitionAssignment.range, .cooperativeSticky])
    func secondMemberTakesOverPartOfTheAssignment(strategy: KafkaPartitionAssignment) async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 4)
        var configuration = cluster.consumerConfiguration(group: "g-\(topic)")
        configuration.partitionAssignment = strategy
        let all = Set((0..<4).map { KafkaTopicPartition(topic: topic, partition: $0) })

        let first = try KafkaConsumer(configuration: configuration, logger: testLogger)
        var firstEvents = first.events.makeAsyncIterator()
        try first.subscribe(topics: [topic])
        var owned: Set<KafkaTopicPartition> = []
        while owned != all, let event = await firstEvents.next() {
            if let partitions = event.assignedPartitions { owned.formUnion(partitions) }
        }
        #expect(owned == all)

        let second = try KafkaConsumer(configuration: configuration, logger: testLogger)
        var secondEvents = second.events.makeAsyncIterator()
        try second.subscribe(topics: [topic])
        var secondOwned: Set<KafkaTopicPartition> = []
        while secondOwned.isEmpty, let event = await secondEvents.next() {
            if let partitions = event.assignedPartitions { secondOwned.formUnion(partitions) }
        }
        // Follow the first member's events until its partitions and the second's split the topic.
        var revokedFromFirst: Set<KafkaTopicPartition> = []
        while !(owned.isDisjoint(with: secondOwned) && owned.union(secondOwned) == all),
            let event = await firstEvents.next()
        {
            if let partitions = event.revokedPartitions {
                revokedFromFirst.formUnion(partitions)
                owned.subtract(partitions)
            }
            if let partitions = event.assignedPartitions { owned.formUnion(partitions) }
        }
        #expect(!secondOwned.isEmpty && !owned.isEmpty)
        #expect(owned.isDisjoint(with: secondOwned))
        #expect(owned.union(secondOwned) == all)
        #expect(try Set(first.assignment) == owned)
        if strategy == .cooperativeSticky {
            #expect(revokedFromFirst == secondOwned)  // only what moved
        } else {
            #expect(revokedFromFirst == all)
        }
        try await second.close()
        try await first.close()
    }

    @Test func closeEndsMessagesForAWaitingIterator() async throws {
        let cluster = try TestCluster()
        let topic = try await cluster.createTopic(partitions: 1)
        let consumer = try cluster.consumer(group: "g-\(topic)")
        try consumer.subscribe(topics: [topic])
        let waiting = Task {
            var count = 0
            for try await _ in consumer.messages { count += 1 }
            return count
        }
        try await Task.sleep(for: .milliseconds(300))
        try await consumer.close()
        #expect(try await waiting.value == 0)
        let error = await #expect(throws: KafkaError.self) {
            try await consumer.commit([KafkaTopicPartition(topic: topic, partition: 0): 1])
        }
        #expect(error?.code == .closed)
    }
}
