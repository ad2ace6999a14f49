import Foundation
import TestSupport
import Kafka
import Testing

@Suite("Producer to consumer round trips against Tansu", .timeLimit(.minutes(1)))
struct RoundTripTests {
    @Test func roundTripsKeysHeadersAndBinaryValuesUnchanged() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("round-trip")
            try await TestKafka.createTopic(topic, partitions: 1, on: broker)
            let producer = try TestKafka.producer(broker)
            let allBytes = (0...255).map { UInt8($0) }
            let records = [
                KafkaProducerRecord(
                    topic: topic,
                    key: Array("key-1".utf8),
                    value: allBytes,
                    headers: [
                        KafkaHeader(key: "binary", value: allBytes.reversed()),
                        KafkaHeader(key: "empty", value: []),
                        KafkaHeader(key: "null", value: nil),
                        KafkaHeader(key: "binary", value: [0, 0xFF]),  // repeated keys keep their order
                    ]
                ),
                KafkaProducerRecord(topic: topic, key: nil, value: []),
                KafkaProducerRecord(topic: topic, key: [0x00, 0xFF, 0x0A], value: nil),  // a tombstone
            ]
            var stored: [KafkaRecordMetadata] = []
            for record in records {
                stored.append(try await producer.send(record))
            }
            await producer.close(timeout: .seconds(5))
            #expect(stored.map(\.topic) == [topic, topic, topic])
            #expect(stored.map(\.partition) == [0, 0, 0])
            #expect(stored.map(\.offset) == [0, 1, 2])

            let consumer = try TestKafka.consumer(broker, group: TestKafka.groupName("round-trip"))
            try consumer.subscribe(topics: [topic])
            let recorder = ConsumerRecorder(consumer)
            let arrived = try await recorder.waitForMessages(3, timeout: .seconds(30))
            try await consumer.close()
            #expect(arrived, "received \(recorder.messages.count) of 3 records")
            let messages = recorder.messages
            try #require(messages.count == 3)
            #expect(messages.map(\.offset) == [0, 1, 2])
            #expect(
                messages.map(\.topicPartition)
                    == Array(repeating: KafkaTopicPartition(topic: topic, partition: 0), count: 3)
            )
            for (message, record) in zip(messages, records) {
                #expect(message.key == record.key)
                #expect(message.value == record.value)
                #expect(message.headers == record.headers)
            }
            #expect(messages[0].value?.count == 256)
            #expect(messages[1].value == [], "an empty value stays empty, not null")
            #expect(messages[2].value == nil, "a null value (tombstone) stays null")
            #expect(messages[1].key == nil)
            #expect(messages.allSatisfy { $0.timestamp != nil })
        }
    }

    @Test func deliversTenThousandRecordsOverSixPartitionsWithoutLossOrDuplicates() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("ten-thousand")
            let count = 10_000
            try await TestKafka.createTopic(topic, partitions: 6, on: broker)
            let producer = try TestKafka.producer(broker)
            // Keys `key-<id>` spread the records over the partitions with librdkafka's default partitioner.
            let stored = try await TestKafka.produce(ids: 0..<count, to: topic, with: producer)
            await producer.close(timeout: .seconds(5))
            let perPartition = Dictionary(grouping: stored.values, by: \.partition)
            #expect(Set(perPartition.keys) == Set(0..<6), "all six partitions got records")
            for (partition, metadata) in perPartition {
                // The broker assigned each partition's offsets densely from 0: nothing lost or doubled on the way in.
                #expect(metadata.map(\.offset).sorted() == Array(0..<Int64(metadata.count)), "partition \(partition)")
            }

            let consumer = try TestKafka.consumer(broker, group: TestKafka.groupName("ten-thousand"))
            try consumer.subscribe(topics: [topic])
            let recorder = ConsumerRecorder(consumer)
            // Read until every id was seen (so a duplicate cannot hide a loss), then look for duplicates.
            let complete = try await recorder.wait(timeout: .seconds(40)) { state in
                Set(state.deliveries.compactMap { TestKafka.id(of: $0.message) }).count >= count
            }
            try await Task.sleep(for: .milliseconds(500))  // room for a duplicate to show up after the last id
            try await consumer.close()
            let messages = recorder.messages
            let ids = messages.compactMap(TestKafka.id(of:))
            #expect(complete, "saw \(Set(ids).count) of \(count) ids")
            #expect(Set(ids) == Set(0..<count))
            #expect(ids.count == messages.count, "every value is an id")
            #expect(messages.count == count, "\(messages.count - Set(ids).count) duplicates")
            for message in messages {
                guard let id = TestKafka.id(of: message), let metadata = stored[id] else { continue }
                if message.partition != metadata.partition || message.offset != metadata.offset {
                    Issue.record("id \(id) read at \(message.partition)/\(message.offset), stored at \(metadata)")
                    break
                }
                #expect(message.key == Array("key-\(id)".utf8))
            }
            // Within a partition the consumer delivers in offset order.
            for (partition, group) in Dictionary(grouping: messages, by: \.partition) {
                #expect(group.map(\.offset) == Array(0..<Int64(group.count)), "partition \(partition) in order")
            }
        }
    }

    @Test func deliveryFailureSurfacesOnTheAwaitingSend() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("too-large")
            try await TestKafka.createTopic(topic, partitions: 1, on: broker)
            // Tansu does not enforce max.message.bytes, so the limit that fails is the producer's own.
            let producer = try TestKafka.producer(broker) { $0.messageMaxBytes = 10_000 }
            let small = try await producer.send(
                KafkaProducerRecord(topic: topic, value: [UInt8](repeating: 1, count: 100))
            )
            #expect(small.offset == 0)
            let error = await #expect(throws: KafkaError.self) {
                try await producer.send(KafkaProducerRecord(topic: topic, value: [UInt8](repeating: 2, count: 20_000)))
            }
            #expect(error?.code == .messageTooLarge, "got \(String(describing: error))")
            #expect(error?.isRetriable == false)
            // The producer keeps working after a failed record.
            let after = try await producer.send(KafkaProducerRecord(topic: topic, value: [3]))
            #expect(after.offset == 1)
            await producer.close(timeout: .seconds(5))
        }
    }
}
