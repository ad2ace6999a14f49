import Foundation
import TestSupport
import Kafka
import Testing

/// kcat uses the same librdkafka, but its own record construction and parsing: these tests show the Swift layer
/// writes and reads ordinary Kafka records.
@Suite("Interoperability with kcat against Tansu", .timeLimit(.minutes(1)))
struct KcatInteropTests {
    @Test func swiftConsumerReadsRecordsWrittenByKcat() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("from-kcat")
            try await TestKafka.createTopic(topic, partitions: 1, on: broker)
            let input = FileManager.default.temporaryDirectory.appendingPathComponent("kcat-in-\(UUID()).txt")
            defer { try? FileManager.default.removeItem(at: input) }
            // -K '|' splits key and value; one record per line.
            let lines = (0..<50).map { "key-\($0)|value-\($0) ünïcødé" }
            try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: input)
            let produced = try await ChildProcess.run(
                ChildProcess.kcatPath,
                [
                    "-P", "-b", broker.bootstrap, "-t", topic, "-p", "0", "-K", "|", "-H", "origin=kcat", "-l",
                    input.path,
                ],
                timeout: .seconds(20)
            )
            #expect(produced.status == 0, "kcat -P failed: \(produced.stderr)")

            let consumer = try TestKafka.consumer(broker, group: TestKafka.groupName("from-kcat"))
            try consumer.subscribe(topics: [topic])
            let recorder = ConsumerRecorder(consumer)
            let complete = try await recorder.waitForMessages(50, timeout: .seconds(30))
            try await consumer.close()
            let messages = recorder.messages
            #expect(complete, "read \(messages.count) of 50")
            try #require(messages.count == 50)
            for (index, message) in messages.enumerated() {
                #expect(message.offset == Int64(index))
                #expect(message.key.map { String(decoding: $0, as: UTF8.self) } == "key-\(index)")
                #expect(message.value.map { String(decoding: $0, as: UTF8.self) } == "value-\(index) ünïcødé")
                #expect(message.headers == [KafkaHeader(key: "origin", value: Array("kcat".utf8))])
            }
        }
    }

    @Test func kcatReadsRecordsWrittenBySwiftProducer() async throws {
        try await withTansuBroker { broker in
            let topic = TestKafka.topicName("to-kcat")
            try await TestKafka.createTopic(topic, partitions: 2, on: broker)
            let producer = try TestKafka.producer(broker)
            var sent: [String] = []
            for index in 0..<40 {
                let record = KafkaProducerRecord(
                    topic: topic,
                    partition: Int32(index % 2),
                    key: Array("key-\(index)".utf8),
                    value: Array("value-\(index)".utf8),
                    headers: [KafkaHeader(key: "origin", value: Array("swift".utf8))]
                )
                let metadata = try await producer.send(record)
                sent.append("\(metadata.partition)|\(metadata.offset)|key-\(index)|value-\(index)|origin=swift")
            }
            await producer.close(timeout: .seconds(5))

            // -e exits at the end of every partition, -c bounds the count; the timeout bounds the rest.
            let consumed = try await ChildProcess.run(
                ChildProcess.kcatPath,
                [
                    "-C", "-b", broker.bootstrap, "-t", topic, "-o", "beginning", "-e", "-c", "40", "-q",
                    "-f", "%p|%o|%k|%s|%h\\n",
                ],
                timeout: .seconds(20)
            )
            #expect(consumed.status == 0, "kcat -C failed: \(consumed.stderr)")
            let lines = String(decoding: consumed.stdout, as: UTF8.self).split(separator: "\n").map(String.init)
            #expect(lines.count == 40)
            #expect(Set(lines) == Set(sent))
        }
    }
}
