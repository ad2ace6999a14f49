import Foundation
import GigaChat
import Kafka
import Logging
import Synchronization
import Testing

@testable import Worker
@testable import WireFormat

/// A sink that answers each hand-over as a script says: refused at once, or a delivery report (now or never).
final class ScriptedSink: OutputSink {
    enum Answer: Sendable {
        case refuse(KafkaError.Code)
        case report(KafkaError.Code?)
        /// Takes the record and never reports (a broker that hangs).
        case silence
    }

    private let script: @Sendable (KafkaProducerRecord, Int) -> Answer
    private let handed = Mutex<[KafkaProducerRecord]>([])

    init(_ script: @escaping @Sendable (KafkaProducerRecord, Int) -> Answer) {
        self.script = script
    }

    /// Every record handed over (refused ones too), in order.
    var records: [KafkaProducerRecord] { handed.withLock { $0 } }

    func enqueue(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void
    ) throws(KafkaError) {
        let index = handed.withLock { handed in
            handed.append(record)
            return handed.count - 1
        }
        switch script(record, index) {
        case .refuse(let code):
            throw KafkaError(code: code, message: "refused at hand-over (\(code))")
        case .report(nil):
            onDelivery(.success(KafkaRecordMetadata(topic: record.topic, partition: 0, offset: Int64(index))))
        case .report(let code?):
            onDelivery(.failure(KafkaError(code: code, message: "refused in the report (\(code))")))
        case .silence:
            break
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct OutcomePublisherTests {
    let input = KafkaTopicPartition(topic: "jobs", partition: 0)

    final class Stored: Sendable {
        private let offsets = Mutex<[Int64]>([])
        func append(_ values: some Sequence<Int64>) { offsets.withLock { $0.append(contentsOf: values) } }
        func withLock<T>(_ body: ([Int64]) -> T) -> T { offsets.withLock { body($0) } }
    }

    struct Setup {
        let publisher: OutcomePublisher
        let tracker: OffsetTracker
        let stored: Stored
        let gate: OutputGate
        let ticket: OffsetTracker.Ticket
    }

    func setUp(_ sink: ScriptedSink) throws -> Setup {
        let stored = Stored()
        let tracker = OffsetTracker { positions in stored.append(positions.values.map(\.offset)) }
        tracker.assign([input])
        let ticket = try #require(tracker.register(input, offset: 0).ticket)
        let gate = OutputGate(limit: 4, logger: Logger(label: "test"))
        let publisher = OutcomePublisher(
            sink: sink,
            tracker: tracker,
            completionsTopic: "completions",
            gate: gate,
            logger: Logger(label: "test"),
            initialBackoff: .milliseconds(5),
            maximumBackoff: .milliseconds(20)
        )
        return Setup(publisher: publisher, tracker: tracker, stored: stored, gate: gate, ticket: ticket)
    }

    func completionOutcome(topic: String = "completions", partition: Int32? = nil, metadataBytes: Int = 10) -> Outcome {
        let completion = CompletionRecord(
            id: "job-1", status: .ok, content: "the answer", attempts: 1, attemptID: "a-1", latencyMilliseconds: 3,
            metadata: ["blob": .string(String(repeating: "x", count: metadataBytes))]
        )
        let record = KafkaProducerRecord(
            topic: topic, partition: partition, key: Array("job-1".utf8), value: completion.jsonBytes,
            headers: [
                KafkaHeader(key: "traceparent", value: Array("00-1-01".utf8)),
                KafkaHeader(key: "big", value: Array(repeating: 7, count: 100)),
            ]
        )
        return .completion(completion, record: record)
    }

    func sentCompletion(_ record: KafkaProducerRecord) throws -> CompletionRecord {
        try JSONDecoder().decode(CompletionRecord.self, from: Data(record.value ?? []))
    }

    @Test func aCompletionTooLargeAtHandOverIsReplacedAndTheOffsetMoves() async throws {
        // Defect: a record refused at hand-over (not in the report) got no completion, and its partition froze.
        let sink = ScriptedSink { record, _ in (record.value?.count ?? 0) > 1000 ? .refuse(.messageTooLarge) : .report(nil) }
        let setup = try setUp(sink)
        let published = await setup.publisher.publish(completionOutcome(partition: 2, metadataBytes: 5000), completing: setup.ticket)
        #expect(published != nil)
        #expect(sink.records.count == 2)
        let replacement = try sentCompletion(sink.records[1])
        #expect(replacement.status == .failed && replacement.error?.code.rawValue == "output_too_large")
        #expect(replacement.content == nil && replacement.metadata == nil)
        #expect(replacement.id == "job-1" && replacement.attemptID == "a-1")
        #expect(sink.records[1].partition == 2, "the reply partition stays")
        #expect(setup.stored.withLock { $0 } == [1], "the offset is done")
    }

    @Test func aCompletionTooLargeInTheReportIsReplacedToo() async throws {
        let sink = ScriptedSink { record, _ in (record.value?.count ?? 0) > 1000 ? .report(.messageTooLarge) : .report(nil) }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(completionOutcome(metadataBytes: 5000), completing: setup.ticket) != nil)
        #expect(try sentCompletion(sink.records.last!).error?.code.rawValue == "output_too_large")
        #expect(setup.stored.withLock { $0 } == [1])
    }

    @Test func headersAreLeftOutWhenEvenTheSmallerCompletionDoesNotFit() async throws {
        // The input's headers are copied to the completion; 100 bytes of them are too many for this topic.
        let sink = ScriptedSink { record, _ in
            record.headers.reduce(0) { $0 + ($1.value?.count ?? 0) } > 50 ? .refuse(.messageTooLarge) : .report(nil)
        }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(completionOutcome(), completing: setup.ticket) != nil)
        let last = sink.records.last!
        #expect(sink.records.count == 3)
        #expect(last.headers.map { $0.key } == ["traceparent", Outcome.headersOmittedHeader])
        #expect(try sentCompletion(last).error?.code.rawValue == "output_too_large")
    }

    @Test func aReplyTopicThatDoesNotExistSendsTheAnswerToTheCompletionsTopic() async throws {
        for answer in [ScriptedSink.Answer.refuse(.unknownTopic), .report(.unknownTopic)] {
            let sink = ScriptedSink { record, _ in record.topic == "replies" ? answer : .report(nil) }
            let setup = try setUp(sink)
            #expect(await setup.publisher.publish(completionOutcome(topic: "replies", partition: 4), completing: setup.ticket) != nil)
            let last = sink.records.last!
            #expect(last.topic == "completions" && last.partition == nil)
            #expect(last.headers.contains { $0.key == Outcome.replyTopicUnavailableHeader && $0.value == Array("replies".utf8) })
            #expect(try sentCompletion(last).content == "the answer", "the paid-for answer is kept")
            #expect(setup.stored.withLock { $0 } == [1])
        }
    }

    @Test func aReplyPartitionThatDoesNotExistFallsBackToTheTopicsPartitioner() async throws {
        // A Spring reply to the completions topic with a partition it does not have: not a missing topic.
        let sink = ScriptedSink { record, _ in record.partition != nil ? .refuse(.unknownTopic) : .report(nil) }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(completionOutcome(partition: 9), completing: setup.ticket) != nil)
        #expect(sink.records.last?.topic == "completions" && sink.records.last?.partition == nil)
        #expect(!setup.gate.isBlocked)
    }

    @Test func aReplyTopicWithASmallerSizeLimitSendsTheReplacementToTheCompletionsTopic() async throws {
        let sink = ScriptedSink { record, _ in record.topic == "replies" ? .report(.messageTooLarge) : .report(nil) }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(completionOutcome(topic: "replies"), completing: setup.ticket) != nil)
        #expect(sink.records.last?.topic == "completions")
        #expect(try sentCompletion(sink.records.last!).error?.code.rawValue == "output_too_large")
        #expect(!setup.gate.isBlocked)
    }

    @Test func aCancelledPublisherWithdrawsTheTopicItReportedMissing() async throws {
        let sink = ScriptedSink { _, _ in .refuse(.unknownTopic) }
        let setup = try setUp(sink)
        let publishing = Task { await setup.publisher.publish(completionOutcome(), completing: setup.ticket) }
        while !setup.gate.isBlocked { try await Task.sleep(for: .milliseconds(5)) }
        publishing.cancel()
        #expect(await publishing.value == nil)
        #expect(!setup.gate.isBlocked, "no job of its own keeps the gate closed")
    }

    @Test func aPartialTooLargeLosesTheInputHeadersThenIsLeftOut() async throws {
        let sink = ScriptedSink { record, _ in record.headers.count > 1 ? .report(.messageTooLarge) : .report(nil) }
        let setup = try setUp(sink)
        let partial = KafkaProducerRecord(
            topic: "partials", key: [1], value: [2],
            headers: [KafkaHeader(key: "a", value: [1]), KafkaHeader(key: "b", value: [2])]
        )
        #expect(await setup.publisher.deliver(partial))
        #expect(sink.records.last?.headers.map { $0.key } == [Outcome.headersOmittedHeader])
        let never = ScriptedSink { _, _ in .refuse(.messageTooLarge) }
        let second = try setUp(never)
        #expect(await second.publisher.deliver(partial), "left out, not retried for ever")
        #expect(never.records.count == 2 && !second.gate.isBlocked)
    }

    @Test func aMissingCompletionsTopicBlocksNewJobsUntilItExists() async throws {
        let exists = Atomic(false)
        let sink = ScriptedSink { _, _ in exists.load(ordering: .relaxed) ? .report(nil) : .refuse(.unknownTopic) }
        let setup = try setUp(sink)
        let publishing = Task { await setup.publisher.publish(completionOutcome(), completing: setup.ticket) }
        while !setup.gate.isBlocked { try await Task.sleep(for: .milliseconds(5)) }
        #expect(setup.gate.reason?.contains("completions") == true)
        #expect(setup.stored.withLock { $0 }.isEmpty, "nothing committed for work not published")
        exists.store(true, ordering: .relaxed)
        #expect(await publishing.value != nil)
        #expect(!setup.gate.isBlocked && setup.gate.reason == nil)
        #expect(setup.stored.withLock { $0 } == [1])
    }

    @Test func aDeadLetterTooLargeLosesItsValueThenTheInputHeaders() async throws {
        let message = KafkaConsumerMessage(
            topic: "jobs", partition: 0, offset: 0, key: [1], value: Array(repeating: 65, count: 5000),
            headers: [KafkaHeader(key: "huge", value: Array(repeating: 1, count: 3000))]
        )
        let record = DeadLetterRecord.make(
            for: message, rejection: JobRejection(.notJSON, "not JSON"), topic: "jobs.DLT", group: "g", workerID: "w"
        )
        let sink = ScriptedSink { record, _ in
            let size = (record.value?.count ?? 0) + record.headers.reduce(0) { $0 + ($1.value?.count ?? 0) }
            return size > 1000 ? .report(.messageTooLarge) : .report(nil)
        }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(Outcome(record: record, kind: .deadLetter), completing: setup.ticket) != nil)
        #expect(sink.records.count == 3)
        let last = sink.records.last!
        #expect(last.value == nil && last.key == [1])
        #expect(!last.headers.contains { $0.key == "huge" })
        #expect(last.headers.contains { $0.key == "kafka_dlt-original-offset" })
        #expect(last.headers.contains { $0.key == DeadLetterRecord.valueOmittedHeader })
        #expect(last.headers.contains { $0.key == DeadLetterRecord.errorCodeHeader })
        #expect(setup.stored.withLock { $0 } == [1])
    }

    @Test func transientFailuresAreRetriedInTheCallersTask() async throws {
        let sink = ScriptedSink { _, index in index < 3 ? .report(.timedOut) : .report(nil) }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(completionOutcome(), completing: setup.ticket) != nil)
        #expect(sink.records.count == 4)
        #expect(!setup.gate.isBlocked)
        #expect(setup.stored.withLock { $0 } == [1])
    }

    @Test func cancellationEndsEveryWaitAndMarksNothingDone() async throws {
        // A full queue, a retry backoff, and a broker that never reports: each wait ends when the task is cancelled.
        let answers: [ScriptedSink.Answer] = [.refuse(.queueFull), .report(.timedOut), .silence]
        for answer in answers {
            let sink = ScriptedSink { _, _ in answer }
            let setup = try setUp(sink)
            let publishing = Task { await setup.publisher.publish(completionOutcome(), completing: setup.ticket) }
            while sink.records.count < 2 && answer != .silence || sink.records.isEmpty {
                try await Task.sleep(for: .milliseconds(2))
            }
            let handedBeforeCancel = sink.records.count
            publishing.cancel()
            #expect(await publishing.value == nil)
            try await Task.sleep(for: .milliseconds(50))
            #expect(sink.records.count <= handedBeforeCancel + 1, "no spinning after cancellation")
            #expect(setup.stored.withLock { $0 }.isEmpty)
        }
    }

    @Test func aClosedProducerGivesTheRecordUp() async throws {
        let sink = ScriptedSink { _, _ in .refuse(.closed) }
        let setup = try setUp(sink)
        #expect(await setup.publisher.publish(completionOutcome(), completing: setup.ticket) == nil)
        #expect(sink.records.count == 1)
        #expect(setup.stored.withLock { $0 }.isEmpty)
    }
}

extension ScriptedSink.Answer: Equatable {
    static func == (lhs: Self, rhs: Self) -> Bool {
        switch (lhs, rhs) {
        case (.silence, .silence): true
        case (.refuse(let a), .refuse(let b)): a == b
        case (.report(let a), .report(let b)): a == b
        default: false
        }
    }
}

@Suite(.timeLimit(.minutes(1))) struct OutputGateTests {
    @Test func noNewJobWhileLimitAnswersWaitForTheirAcknowledgementsOrATopicIsMissing() async throws {
        let gate = OutputGate(limit: 2, logger: Logger(label: "test"))
        #expect(await gate.waitUntilOpen())
        gate.beginPublishing()
        gate.beginPublishing()
        let opened = Atomic(false)
        let waiting = Task {
            let result = await gate.waitUntilOpen()
            opened.store(true, ordering: .relaxed)
            return result
        }
        try await Task.sleep(for: .milliseconds(50))
        let openedEarly = opened.load(ordering: .relaxed)
        #expect(!openedEarly, "two answers wait: closed")
        gate.endPublishing()
        #expect(await waiting.value)

        gate.block("completions", because: KafkaError(code: .unknownTopic, message: "unknown topic"))
        let blocked = Task { await gate.waitUntilOpen() }
        try await Task.sleep(for: .milliseconds(50))
        blocked.cancel()
        #expect(await blocked.value == false, "a cancelled wait ends")
        let again = Task { await gate.waitUntilOpen() }
        gate.clear("completions")
        #expect(await again.value)
        #expect(gate.reason == nil)
    }
}
