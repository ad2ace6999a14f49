import Foundation
import GigaChat
import Kafka
import Logging
import Synchronization
import Testing

@testable import WireFormat
@testable import Worker

/// GigaChat as a script: each call (counted from 0) answers, fails, streams or hangs.
final class ScriptedChat: ChatCompleting {
    enum Answer: Sendable {
        case text(String)
        /// A whole answer cut by `max_tokens` (`finish_reason` `length`).
        case truncated(String)
        /// A reasoning model's answer: its reasoning, then the text (streamed: two reasoning deltas, then the text),
        /// with a generated file's id on the plain answer.
        case reasoned(String, reasoning: String)
        case failure(GigaChatError)
        /// Streamed: these pieces, then (when set) this error instead of the end.
        case chunks([String], then: GigaChatError?)
        /// Never answers (until cancelled).
        case hang
    }

    private let script: @Sendable (Int) -> Answer
    private let calls = Mutex<[String]>([])
    private let sent = Mutex<[ChatRequest]>([])

    init(_ script: @escaping @Sendable (Int) -> Answer) {
        self.script = script
    }

    /// The `X-Request-ID` (the attempt id) of every call, in order.
    var requestIDs: [String] { calls.withLock { $0 } }
    /// The request of every call, in order.
    var requests: [ChatRequest] { sent.withLock { $0 } }

    private func next(_ headers: GigaChatRequestHeaders, _ request: ChatRequest) -> Answer {
        sent.withLock { $0.append(request) }
        let index = calls.withLock { calls in
            calls.append(headers.requestID ?? "")
            return calls.count - 1
        }
        return script(index)
    }

    func completeChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) async throws -> ChatResponse {
        let answer = next(headers, request)
        switch answer {
        case .reasoned(let text, let reasoning):
            var message = ChatMessage(role: .assistant, content: text, attachments: ["generated-1"])
            message.reasoningContent = reasoning
            return ChatResponse(
                choices: [.init(index: 0, message: message, finishReason: .stop)],
                model: "GigaChat:test"
            )
        case .text(let text), .truncated(let text):
            let reason: ChatFinishReason
            if case .truncated = answer { reason = .length } else { reason = .stop }
            return ChatResponse(
                choices: [.init(index: 0, message: ChatMessage(role: .assistant, content: text), finishReason: reason)],
                model: "GigaChat:test",
                usage: ChatUsage(promptTokens: 3, completionTokens: 2, totalTokens: 5)
            )
        case .failure(let error):
            throw error
        case .chunks, .hang:
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        }
    }

    /// Embeddings: any text answer gives each input the vector [its length, its index]; failures are thrown.
    func embed(_ input: [String], model: String, headers: GigaChatRequestHeaders) async throws -> EmbeddingsResponse {
        switch next(headers, ChatRequest(model: model, messages: input.map(ChatMessage.user))) {
        case .failure(let error):
            throw error
        case .hang, .chunks:
            try await Task.sleep(for: .seconds(3600))
            throw CancellationError()
        case .reasoned:
            throw GigaChatError(code: .badRequest, message: "not an embeddings answer")
        case .text(let text), .truncated(let text):
            // Answered out of order, as nothing promises otherwise: the runner puts them in input order. The text
            // "shifted" numbers them from 1: an answer that would put vectors beside the wrong texts.
            let shift = text == "shifted" ? 1 : 0
            let data = input.enumerated().reversed().map { index, text in
                EmbeddingsResponse.Embedding(
                    index: index + shift,
                    embedding: [Double(text.count), Double(index)],
                    usage: .init(promptTokens: 2)
                )
            }
            return EmbeddingsResponse(model: model, data: data)
        }
    }

    func streamChat(
        _ request: ChatRequest,
        headers: GigaChatRequestHeaders,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) async throws {
        for try await chunk in scriptedStream(request, headers: headers) { onChunk(chunk) }
    }

    /// The scripted answer's chunks, produced by a task of their own as GigaChat's arrive.
    private func scriptedStream(_ request: ChatRequest, headers: GigaChatRequestHeaders) -> AsyncThrowingStream<
        ChatChunk, any Error
    > {
        let answer = next(headers, request)
        return AsyncThrowingStream { continuation in
            let task = Task {
                switch answer {
                case .chunks(let pieces, let error):
                    for piece in pieces {
                        continuation.yield(
                            ChatChunk(choices: [.init(delta: .init(content: piece))], model: "GigaChat:test")
                        )
                    }
                    if let error {
                        continuation.finish(throwing: error)
                    } else {
                        continuation.yield(ChatChunk(choices: [.init(delta: .init(), finishReason: .stop)]))
                        continuation.finish()
                    }
                case .failure(let error):
                    continuation.finish(throwing: error)
                case .reasoned(let text, let reasoning):
                    for piece in [String(reasoning.prefix(3)), String(reasoning.dropFirst(3))] {
                        var delta = ChatChunk.Delta()
                        delta.reasoningContent = piece
                        continuation.yield(ChatChunk(choices: [.init(delta: delta)]))
                    }
                    var answer = ChatChunk.Delta(content: text)
                    answer.attachments = ["generated-1"]
                    continuation.yield(ChatChunk(choices: [.init(delta: answer)]))
                    continuation.yield(ChatChunk(choices: [.init(delta: .init(), finishReason: .stop)]))
                    continuation.finish()
                case .text, .truncated, .hang:
                    try? await Task.sleep(for: .seconds(3600))
                    continuation.finish(throwing: CancellationError())
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

/// ``JobRunner`` with GigaChat and the producer as scripts: attempts, partials, deadlines and cancellation end
/// in exactly one published completion, or in nothing, and complete the offset only then.
@Suite(.timeLimit(.minutes(1))) struct JobRunnerTests {
    let input = KafkaTopicPartition(topic: "jobs", partition: 0)

    struct Bed {
        let runner: JobRunner<ScriptedChat>
        let dispatcher: Dispatcher
        let sink: ScriptedSink
        let tracker: OffsetTracker
        let deadlines: AttemptDeadlines
    }

    func bed(_ chat: ScriptedChat, adjust: (inout WorkerConfiguration) -> Void = { _ in }) -> Bed {
        var configuration = WorkerConfiguration()
        configuration.initialBackoff = .milliseconds(5)
        configuration.maxBackoff = .milliseconds(20)
        configuration.maxAttempts = 5
        configuration.partialsInterval = .milliseconds(1)
        configuration.topics.completions = "completions"
        configuration.topics.partials = "partials"
        adjust(&configuration)
        let logger = Logger(label: "test")
        let sink = ScriptedSink { _, _ in .report(nil) }
        let tracker = OffsetTracker { _ in }
        let gate = OutputGate(limit: 4, logger: logger)
        let dispatcher = Dispatcher(limit: 1, perKey: false, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20)
        let metrics = WorkerMetrics()
        let deadlines = AttemptDeadlines(interval: .milliseconds(10))
        let publisher = OutcomePublisher(
            sink: sink,
            tracker: tracker,
            completionsTopic: configuration.topics.completions,
            gate: gate,
            logger: logger,
            initialBackoff: .milliseconds(5),
            maximumBackoff: .milliseconds(20)
        )
        let flow = FlowController(
            settings: .init(
                concurrency: 1,
                accountConcurrency: nil,
                fleetBudget: .demand,
                rotation: .seconds(60),
                adaptive: false,
                requestsPerMinute: nil,
                tokensPerMinute: nil
            ),
            topic: "jobs",
            dispatcher: dispatcher,
            consumer: ConsumerReference(),
            fleet: nil,
            metrics: metrics,
            logger: logger
        )
        let runner = JobRunner(
            client: chat,
            publisher: publisher,
            dispatcher: dispatcher,
            configuration: configuration,
            metrics: metrics,
            deadlines: deadlines,
            flow: flow,
            logger: logger
        )
        return Bed(runner: runner, dispatcher: dispatcher, sink: sink, tracker: tracker, deadlines: deadlines)
    }

    /// Admits a job and runs it holding the slot, as the dispatch loop does.
    func run(_ json: String, in bed: Bed) async throws -> AdmittedJob {
        bed.tracker.assign([input])
        let ticket = try #require(bed.tracker.register(input, offset: 0).ticket)
        let job = try JobDecoder(maxBytes: 1 << 20).decode(Array(json.utf8)).get()
        let admitted = AdmittedJob(
            job: job,
            ticket: ticket,
            key: nil,
            headers: [],
            receivedAt: .now,
            size: json.utf8.count
        )
        #expect(await bed.dispatcher.admit(admitted))
        let runnable = try #require(await bed.dispatcher.nextRunnable())
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await bed.deadlines.runSweeper() }
            await bed.runner.run(runnable)
            group.cancelAll()
        }
        return runnable
    }

    func completions(_ sink: ScriptedSink) throws -> [CompletionRecord] {
        try sink.records.filter { $0.topic == "completions" }.map {
            try JSONDecoder().decode(CompletionRecord.self, from: Data($0.value ?? []))
        }
    }

    @Test func aTransientFailureIsRetriedAndTheOneCompletionCompletesTheOffset() async throws {
        let chat = ScriptedChat {
            $0 == 0 ? .failure(GigaChatError(code: .server, message: "boom", httpStatus: 500)) : .text("hello")
        }
        let bed = bed(chat)
        _ = try await run(#"{"id":"j1","messages":[{"role":"user","content":"hi"}],"stream":false}"#, in: bed)
        let sent = try completions(bed.sink)
        #expect(sent.count == 1)
        #expect(sent.first?.status == .ok && sent.first?.content == "hello" && sent.first?.attempts == 2)
        // The completion names the attempt that answered, not the one that failed.
        #expect(chat.requestIDs.count == 2 && sent.first?.attemptID == chat.requestIDs.last)
        #expect(bed.tracker.committable == [input: 1])
        #expect(bed.dispatcher.load.running == 0, "the slot is given back")
    }

    @Test func aStreamCutMidAnswerRestartsAsANewAttemptWhosePartialsRebuildTheAnswer() async throws {
        let cut = GigaChatError(code: .streamCut, message: "cut")
        let chat = ScriptedChat { $0 == 0 ? .chunks(["Hel"], then: cut) : .chunks(["Hel", "lo"], then: nil) }
        let bed = bed(chat)
        _ = try await run(#"{"id":"j2","messages":[{"role":"user","content":"hi"}],"stream":true}"#, in: bed)
        let sent = try completions(bed.sink)
        #expect(sent.count == 1 && sent.first?.content == "Hello" && sent.first?.attempts == 2)
        let partials = try bed.sink.records.filter { $0.topic == "partials" }.map {
            try JSONDecoder().decode(PartialRecord.self, from: Data($0.value ?? []))
        }
        let ofAnswer = partials.filter { $0.attemptID == sent.first?.attemptID }.sorted { $0.seq < $1.seq }
        #expect(ofAnswer.map(\.delta).joined() == "Hello")
        #expect(ofAnswer.last?.isFinal == true)
        // Partials published before the cut stay under the first attempt's id.
        #expect(partials.contains { $0.attemptID == chat.requestIDs.first })
    }

    @Test func aPermanentFailureIsOneFailedCompletionWithItsCode() async throws {
        let chat = ScriptedChat { _ in .failure(GigaChatError(code: .badRequest, message: "no", httpStatus: 400)) }
        let bed = bed(chat)
        _ = try await run(#"{"id":"j3","messages":[{"role":"user","content":"hi"}],"stream":false}"#, in: bed)
        let sent = try completions(bed.sink)
        #expect(sent.count == 1 && sent.first?.status == .failed)
        #expect(sent.first?.error?.code == .badRequest && sent.first?.error?.httpStatus == 400)
        #expect(chat.requestIDs.count == 1)
    }

    @Test func aCallStillRunningAtTheJobsTimeoutEndsDeadlineExceeded() async throws {
        let chat = ScriptedChat { _ in .hang }
        let bed = bed(chat) { $0.jobTimeout = .milliseconds(200) }
        _ = try await run(#"{"id":"j4","messages":[{"role":"user","content":"hi"}],"stream":false}"#, in: bed)
        let sent = try completions(bed.sink)
        #expect(sent.count == 1 && sent.first?.error?.code == .deadlineExceeded && sent.first?.attempts == 1)
        #expect(bed.tracker.committable == [input: 1])
    }

    @Test func reasoningAndGeneratedFilesAreInTheCompletion() async throws {
        let chat = ScriptedChat { _ in .reasoned("42", reasoning: "Let me think.") }
        for stream in [false, true] {
            let bed = bed(chat)
            _ = try await run(#"{"id":"r","messages":[{"role":"user","content":"hi"}],"stream":\#(stream)}"#, in: bed)
            let completion = try #require(try completions(bed.sink).first)
            #expect(completion.content == "42" && completion.reasoningContent == "Let me think.", "stream \(stream)")
            #expect(completion.files == ["generated-1"])
        }
    }

    // MARK: Embeddings

    @Test func anEmbeddingsJobIsRetriedLikeAChatJobAndGetsItsVectorsInInputOrder() async throws {
        let chat = ScriptedChat {
            $0 == 0 ? .failure(GigaChatError(code: .rateLimited, message: "busy", httpStatus: 429)) : .text("")
        }
        let bed = bed(chat)
        _ = try await run(#"{"id":"e1","kind":"embeddings","input":["a","bb","ccc"]}"#, in: bed)
        let completion = try #require(try completions(bed.sink).first)
        #expect(completion.status == .ok && completion.attempts == 2)
        #expect(completion.embeddings == [[1, 0], [2, 1], [3, 2]])
        #expect(completion.content == nil && completion.model == "Embeddings")
        #expect(completion.usage == ChatUsage(promptTokens: 6, completionTokens: 0, totalTokens: 6))
        #expect(chat.requests.last?.model == "Embeddings", "embeddings.model when the job names none")
        #expect(bed.tracker.committable == [input: 1])
    }

    @Test func vectorsThatDoNotMatchTheTextsOneToOneAreNotAnAnswer() async throws {
        let chat = ScriptedChat { _ in .text("shifted") }
        let bed = bed(chat)
        _ = try await run(#"{"id":"e2","kind":"embeddings","input":["a","bb"]}"#, in: bed)
        let completion = try #require(try completions(bed.sink).first)
        // An answer that cannot be read is permanent (FailurePolicy), as for chat.
        #expect(completion.status == .failed && completion.embeddings == nil && chat.requestIDs.count == 1)
        #expect(completion.error?.code == .decoding)
        #expect(completion.error?.message.contains("indexes") == true)
    }

    // MARK: Structured output

    static let structuredJob = #"""
        {"id":"s1","messages":[{"role":"user","content":"Extract"}],"stream":false,"options":{"response_format":
        {"type":"json_schema","schema":{"type":"object","required":["n"],"properties":{"n":{"type":"integer"}}}}}}
        """#

    @Test func anAnswerThatIsNotJSONGetsOneCorrectiveAttemptThatIsParsed() async throws {
        let chat = ScriptedChat { $0 == 0 ? .text(#"Вот ответ: {"n": 1}"#) : .text(#"{"n": 2}"#) }
        let bed = bed(chat)
        _ = try await run(Self.structuredJob, in: bed)
        let sent = try completions(bed.sink)
        #expect(sent.count == 1)
        let completion = try #require(sent.first)
        #expect(completion.status == .ok && completion.content == #"{"n": 2}"# && completion.parsed == ["n": 2])
        #expect(completion.attempts == 2 && completion.attemptID == chat.requestIDs.last)
        // Both calls were paid for: the usage counts both.
        #expect(completion.usage == ChatUsage(promptTokens: 6, completionTokens: 4, totalTokens: 10))
        // The correction repeats the conversation, the wrong answer, and what was wrong with it.
        let correction = try #require(chat.requests.last?.messages)
        #expect(correction.count == 3)
        #expect(correction[1] == .assistant(#"Вот ответ: {"n": 1}"#))
        #expect(correction[2].role == .user && correction[2].content?.contains("the answer is not JSON") == true)
        #expect(bed.tracker.committable == [input: 1])
    }

    @Test func anAnswerThatStillBreaksTheSchemaFailsInvalidOutputNamingTheViolation() async throws {
        let chat = ScriptedChat { _ in .text(#"{"n": "three"}"#) }
        let bed = bed(chat)
        _ = try await run(Self.structuredJob, in: bed)
        let completion = try #require(try completions(bed.sink).first)
        #expect(completion.status == .failed && completion.error?.code == .invalidOutput)
        #expect(completion.error?.message == "$.n: expected integer, got a string (after 1 corrective attempt)")
        // The answer stays beside the failure (it was paid for); it is not presented as parsed.
        #expect(completion.content == #"{"n": "three"}"# && completion.parsed == nil && completion.attempts == 2)
        #expect(chat.requestIDs.count == 2)
    }

    @Test func aStreamedAnswerThatACorrectionReplacesGetsNoFinalPartial() async throws {
        let chat = ScriptedChat {
            $0 == 0 ? .chunks(["{\"n\": ", "\"x\"}"], then: nil) : .chunks(["{\"n\": ", "7}"], then: nil)
        }
        let bed = bed(chat)
        _ = try await run(
            Self.structuredJob.replacingOccurrences(of: #""stream":false"#, with: #""stream":true"#),
            in: bed
        )
        let completion = try #require(try completions(bed.sink).first)
        #expect(completion.status == .ok && completion.parsed == ["n": 7] && completion.attempts == 2)
        let partials = try bed.sink.records.filter { $0.topic == "partials" }.map {
            try JSONDecoder().decode(PartialRecord.self, from: Data($0.value ?? []))
        }
        let replaced = partials.filter { $0.attemptID == chat.requestIDs.first }
        let kept = partials.filter { $0.attemptID == completion.attemptID }.sorted { $0.seq < $1.seq }
        #expect(!replaced.contains { $0.isFinal }, "the replaced attempt's stream is not marked finished")
        #expect(kept.map(\.delta).joined() == #"{"n": 7}"# && kept.last?.isFinal == true)
    }

    @Test func withoutCorrectionsTheFirstInvalidAnswerFails() async throws {
        let chat = ScriptedChat { _ in .text("no json here") }
        let bed = bed(chat) { $0.structuredCorrections = 0 }
        _ = try await run(Self.structuredJob, in: bed)
        let completion = try #require(try completions(bed.sink).first)
        #expect(completion.error?.code == .invalidOutput && completion.attempts == 1)
        #expect(completion.error?.message.hasPrefix("the answer is not JSON") == true)
    }

    @Test func anAnswerCutByMaxTokensIsTruncatedNotCorrected() async throws {
        let chat = ScriptedChat { _ in .truncated(#"{"n": "#) }
        let bed = bed(chat)
        _ = try await run(Self.structuredJob, in: bed)
        let completion = try #require(try completions(bed.sink).first)
        #expect(completion.status == .failed && completion.error?.code == .truncated)
        #expect(completion.finishReason == "length" && completion.attempts == 1 && chat.requestIDs.count == 1)
    }

    @Test func aJobWithoutAFormatIsNotJudged() async throws {
        let chat = ScriptedChat { _ in .truncated("plain text, cut") }
        let bed = bed(chat)
        _ = try await run(#"{"id":"p","messages":[{"role":"user","content":"hi"}],"stream":false}"#, in: bed)
        let completion = try #require(try completions(bed.sink).first)
        #expect(completion.status == .ok && completion.parsed == nil && completion.finishReason == "length")
    }

    @Test func aCancelledRunPublishesNothingAndLeavesTheOffsetOpen() async throws {
        let chat = ScriptedChat { _ in .hang }
        let bed = bed(chat)
        let task = Task {
            try await run(#"{"id":"j5","messages":[{"role":"user","content":"hi"}],"stream":true}"#, in: bed)
        }
        while chat.requestIDs.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        task.cancel()
        _ = try await task.value
        #expect(bed.sink.records.isEmpty)
        #expect(bed.tracker.committable.isEmpty)
        #expect(bed.dispatcher.load.running == 0, "the slot is given back")
    }
}
