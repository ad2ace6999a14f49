import Foundation
import GigaChat
import Kafka
import Testing

@testable import Worker
@testable import WireFormat

@Suite struct OutputRecordTests {
    @Test func aCompletionHasOneShapeWithNullsForMissingValues() throws {
        let completion = CompletionRecord(id: "a", status: .failed, attempts: 2, latencyMilliseconds: 5, error: .init(code: .badRequest, message: "no", httpStatus: 400))
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(completion)) as! [String: Any]
        #expect(Set(object.keys) == [
            "id", "status", "content", "finish_reason", "usage", "model", "attempts", "attempt_id", "latency_ms",
            "ttft_ms", "metadata", "error",
        ])
        #expect(object["content"] is NSNull)
        let error = object["error"] as? [String: Any]
        #expect(error?["code"] as? String == "bad_request")
        #expect(error?["http_status"] as? Int == 400)
        let decoded = try JSONDecoder().decode(CompletionRecord.self, from: JSONEncoder().encode(completion))
        #expect(decoded == completion)
    }

    @Test func theWrittenJSONIsTheCodableFormByteForByteInMeaning() throws {
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{07} null \u{0} é 漢字 🎉 </script>"
        let completion = CompletionRecord(
            id: tricky, status: .ok, content: tricky, finishReason: "function_call",
            functionCall: ChatFunctionCall(name: "f", arguments: ["x": 1, "y": [1.5, true, nil, "s"], "z": ["a": -3]]),
            usage: ChatUsage(promptTokens: 1, completionTokens: 2, totalTokens: 3, precachedPromptTokens: 4),
            model: "GigaChat:2", attempts: 2, attemptID: "a-1", latencyMilliseconds: 7, timeToFirstTokenMilliseconds: 3,
            metadata: ["nested": ["k": [1, 2e-5, 1e300]], "text": .string(tricky)],
            error: nil
        )
        let failed = CompletionRecord(id: "b", status: .failed, attempts: 0, latencyMilliseconds: 1, error: .init(code: .init(rawValue: "c"), message: tricky))
        for record in [completion, failed] {
            let decoded = try JSONDecoder().decode(CompletionRecord.self, from: Data(record.jsonBytes))
            #expect(decoded == record)
            let written = try JSONSerialization.jsonObject(with: Data(record.jsonBytes)) as! NSDictionary
            let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(record)) as! NSDictionary
            #expect(written == encoded)
        }
        let partial = PartialRecord(id: tricky, attemptID: "u", attempt: 1, seq: 3, delta: tricky, isFinal: true)
        #expect(try JSONDecoder().decode(PartialRecord.self, from: Data(partial.jsonBytes)) == partial)
    }

    @Test func aPartialNamesItsAttempt() throws {
        let partial = PartialRecord(id: "a", attemptID: "u-1", attempt: 2, seq: 0, delta: "Привет", isFinal: false)
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(partial)) as! [String: Any]
        #expect(object["attempt_id"] as? String == "u-1")
        #expect(object["final"] as? Bool == false)
        #expect(object["seq"] as? Int == 0)
    }

    @Test func deadLettersKeepTheRecordAndAddSpringHeaders() {
        let message = KafkaConsumerMessage(
            topic: "jobs", partition: 3, offset: 258, key: [1, 2], value: Array("not json".utf8),
            headers: [KafkaHeader(key: "traceparent", value: Array("00-abc-def-01".utf8))],
            timestamp: Date(timeIntervalSince1970: 1.5)
        )
        let record = DeadLetterRecord.make(
            for: message, rejection: JobRejection(.notJSON, "the value is not JSON"), topic: "jobs.DLT", group: "g",
            workerID: "w-1"
        )
        #expect(record.topic == "jobs.DLT")
        #expect(record.key == [1, 2])
        #expect(record.value == Array("not json".utf8))
        var headers: [String: [UInt8]] = [:]
        for header in record.headers { headers[header.key] = header.value }
        #expect(headers["traceparent"] == Array("00-abc-def-01".utf8))
        #expect(headers["kafka_dlt-original-topic"] == Array("jobs".utf8))
        #expect(headers["kafka_dlt-original-partition"] == [0, 0, 0, 3])
        #expect(headers["kafka_dlt-original-offset"] == [0, 0, 0, 0, 0, 0, 1, 2])
        #expect(headers["kafka_dlt-original-timestamp"] == [0, 0, 0, 0, 0, 0, 5, 220])
        #expect(headers["kafka_dlt-original-consumer-group"] == Array("g".utf8))
        #expect(headers["kafka_dlt-exception-message"] == Array("the value is not JSON".utf8))
        #expect(headers[DeadLetterRecord.errorCodeHeader] == Array("not_json".utf8))
        #expect(headers[DeadLetterRecord.workerIDHeader] == Array("w-1".utf8))
    }

    @Test func repliesGoToTheSpringHeaderThenReplyToThenTheCompletionsTopic() {
        func admitted(replyTo: String?, headers: [KafkaHeader]) -> AdmittedJob {
            AdmittedJob(
                job: Job(id: "a", messages: [.user("x")], replyTo: replyTo),
                ticket: OffsetTracker.Ticket(ownership: PartitionOwnership(partition: KafkaTopicPartition(topic: "jobs", partition: 0), epoch: 1), offset: 0),
                key: nil, headers: headers, receivedAt: .now, size: 1
            )
        }
        let spring = [
            KafkaHeader(key: "kafka_replyTopic", value: Array("spring.replies".utf8)),
            KafkaHeader(key: "kafka_replyPartition", value: [0, 0, 0, 2]),
        ]
        #expect(ReplyDestination(admitted: admitted(replyTo: "mine", headers: spring), completionsTopic: "c") == ReplyDestination(topic: "spring.replies", partition: 2))
        #expect(ReplyDestination(admitted: admitted(replyTo: "mine", headers: []), completionsTopic: "c").topic == "mine")
        #expect(ReplyDestination(admitted: admitted(replyTo: nil, headers: []), completionsTopic: "c").topic == "c")
    }
}
