import Foundation
import GigaChat
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

/// The worker end to end against Tansu and the emulator: N jobs in, N answers out.
@Suite("Worker pipeline against Tansu and the emulator", .serialized, .timeLimit(.minutes(3)))
struct WorkerPipelineTests {
    /// Half streamed; a third each on v1, on v2 and on the configured default (v2 here); some with a system prompt
    /// the emulator caches: the completions and partials look the same whichever API answered.
    @Test func aThousandJobsEachGetTheirPredictedAnswerAndOffsetsReachTheEnd() async throws {
        let replyTopic = "replies-\(UUID().uuidString.prefix(6).lowercased())"
        let springTopic = "spring-\(UUID().uuidString.prefix(6).lowercased())"
        try await WorkerTestBed.run(partitions: 6, extraTopics: [replyTopic, springTopic]) { bed in
            var jobs: [TestJob] = []
            for index in 0..<1000 {
                var job = TestJob(id: "job-\(index)", prompt: "Document \(index): слово \(index % 13) end")
                job.stream = index % 2 == 0
                job.api = [nil, "v1", "v2"][index % 3]
                if index % 5 == 0 { job.system = "Answer as briefly as you can" }
                job.headers = [KafkaHeader(key: "traceparent", value: Array("00-\(index)-01".utf8))]
                if index % 10 == 3 { job.replyTo = replyTopic }
                if index % 10 == 7 {
                    job.headers += [
                        KafkaHeader(key: "kafka_replyTopic", value: Array(springTopic.utf8)),
                        KafkaHeader(key: "kafka_correlationId", value: Array("corr-\(index)".utf8)),
                    ]
                }
                if index % 25 == 0 { job.metadata = ["source": "s3://bucket/\(index)"] }
                jobs.append(job)
            }
            let collector = try bed.collector(extraTopics: [replyTopic, springTopic])
            let worker = try bed.startWorker(
                bed.configuration {
                    $0.concurrency = 32
                    $0.gigachat.api = .v2
                }
            )
            let stored = try await bed.produce(jobs)

            let done = try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(120))
            let snapshot = collector.snapshot
            #expect(done, "\(Set(snapshot.completions.map(\.record.id)).count) of 1000 completions")
            #expect(snapshot.undecodable.isEmpty)
            let byID = Dictionary(grouping: snapshot.completions, by: \.record.id)
            #expect(byID.count == 1000 && byID.values.allSatisfy { $0.count == 1 }, "one completion per job")
            for job in jobs {
                guard let completion = byID[job.id]?.first else { continue }
                let record = completion.record
                #expect(record.status == .ok, "\(job.id): \(String(describing: record.error))")
                #expect(record.content == job.expectedContent, "\(job.id)")
                #expect(record.finishReason == "stop")
                #expect(record.attempts == 1)
                #expect(record.model == "GigaChat:2.0.28.2")
                let usage = job.expectedUsage
                #expect(
                    record.usage?.promptTokens == usage.prompt && record.usage?.completionTokens == usage.completion
                        && record.usage?.totalTokens == usage.total,
                    "\(job.id) (api \(job.api ?? "default")): usage mapped"
                )
                // Jobs sharing the system prompt share a session (cache.session_id prefix): the cache serves it.
                #expect([0, usage.cacheable].contains(record.usage?.precachedPromptTokens ?? -1), "\(job.id)")
                let expectedTopic =
                    job.replyTo
                    ?? (job.headers.contains { $0.key == "kafka_replyTopic" } ? springTopic : bed.topics.completions)
                #expect(completion.topic == expectedTopic, "\(job.id) answered on \(completion.topic)")
                #expect(completion.headers.contains { $0.key == "traceparent" && $0.value == job.headers[0].value })
                if job.headers.contains(where: { $0.key == "kafka_correlationId" }) {
                    #expect(completion.headers.contains { $0.key == "kafka_correlationId" })
                }
                if let metadata = job.metadata {
                    #expect(record.metadata == .object(metadata.mapValues { .string($0) }))
                }
                if job.stream {
                    let rebuilt = collector.rebuilt(attemptID: record.attemptID ?? "")
                    #expect(
                        rebuilt.complete && rebuilt.text == record.content,
                        "\(job.id): partials rebuild the answer"
                    )
                } else {
                    #expect(record.timeToFirstTokenMilliseconds != nil)
                }
            }
            #expect(!snapshot.partials.contains { partial in !jobs[Int(partial.id.dropFirst(4))!].stream })
            let cached = snapshot.completions.reduce(0) { $0 + ($1.record.usage?.precachedPromptTokens ?? 0) }
            let withSystem = jobs.filter { $0.system != nil }
            // One miss fills the cache; the other 199 jobs with that prefix hit it, whichever API they called.
            #expect(
                cached >= (withSystem.count - 10) * withSystem[0].expectedUsage.cacheable,
                "cached tokens: \(cached)"
            )
            let counters = bed.emulator.counters
            #expect(counters.v2ChatCalls == jobs.filter { $0.api != "v1" }.count, "job api, else gigachat.api")
            #expect(counters.chatCalls == 1000 && counters.invalidRequests == 0)

            let ends = WorkerTestBed.ends(of: stored.values)
            let committed = try await bed.waitForCommits(reaching: ends)
            #expect(committed == ends, "committed offsets reach the end of every partition")
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func malformedRecordsGoToTheDeadLetterTopicWithTheirReasonAndBytes() async throws {
        try await WorkerTestBed.run(partitions: 2) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.maxJobBytes = 2000 })
            let malformed: [(code: String, value: [UInt8]?)] = [
                ("empty_value", nil),
                ("not_json", Array("hello".utf8)),
                ("invalid_utf8", [0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D]),
                ("not_an_object", Array("[1,2,3]".utf8)),
                ("missing_field", Array(#"{"messages":[{"role":"user","content":"x"}]}"#.utf8)),
                ("empty_field", Array(#"{"id":"e","messages":[]}"#.utf8)),
                ("unknown_field", Array(#"{"id":"u","messages":[{"role":"user","content":"x"}],"prompt":1}"#.utf8)),
                ("invalid_role", Array(#"{"id":"r","messages":[{"role":"robot","content":"x"}]}"#.utf8)),
                ("wrong_type", Array(#"{"id":"w","messages":[{"role":"user","content":"x"}],"stream":"yes"}"#.utf8)),
                (
                    "too_large",
                    Array(
                        (#"{"id":"big","messages":[{"role":"user","content":""# + String(repeating: "x", count: 3000)
                            + #""}]}"#).utf8
                    )
                ),
                (
                    "invalid_deadline",
                    Array(#"{"id":"d","messages":[{"role":"user","content":"x"}],"deadline":"soon"}"#.utf8)
                ),
            ]
            var records: [KafkaProducerRecord] = []
            var valid: [TestJob] = []
            for (index, bad) in malformed.enumerated() {
                let header = KafkaHeader(key: "case", value: Array(bad.code.utf8))
                records.append(
                    KafkaProducerRecord(
                        topic: bed.topics.jobs,
                        key: Array("bad-\(index)".utf8),
                        value: bad.value,
                        headers: [header]
                    )
                )
                let job = TestJob(id: "good-\(index)", prompt: "valid \(index)")
                valid.append(job)
                records.append(job.record(topic: bed.topics.jobs))
            }
            let stored = try await bed.produceRaw(records)

            let all = try await collector.wait(timeout: .seconds(60)) {
                $0.deadLetters.count >= malformed.count && $0.completions.count >= valid.count
            }
            #expect(all)
            let snapshot = collector.snapshot
            #expect(snapshot.deadLetters.count == malformed.count)
            for (index, bad) in malformed.enumerated() {
                let letter = snapshot.deadLetters.first { $0.key == Array("bad-\(index)".utf8) }
                #expect(letter != nil, "\(bad.code) dead-lettered")
                guard let letter else { continue }
                func header(_ name: String) -> [UInt8]? { letter.headers.last { $0.key == name }?.value }
                #expect(letter.value == bad.value, "\(bad.code): value untouched")
                #expect(header("case") == Array(bad.code.utf8), "original headers kept")
                #expect(header("gigachat_worker-error-code") == Array(bad.code.utf8))
                #expect(header("kafka_dlt-original-topic") == Array(bed.topics.jobs.utf8))
                #expect(header("kafka_dlt-original-consumer-group") == Array(bed.group.utf8))
                #expect(!(header("kafka_dlt-exception-message") ?? []).isEmpty)
            }
            #expect(Set(snapshot.completions.map(\.record.id)) == Set(valid.map(\.id)))
            #expect(snapshot.completions.allSatisfy { $0.record.status == .ok })
            // Dead-lettered records count as done: the offsets reach the end.
            let ends = WorkerTestBed.ends(of: stored)
            #expect(try await bed.waitForCommits(reaching: ends) == ends)
            // Still running: a new job is answered.
            let later = TestJob(id: "after", prompt: "still there?")
            try await bed.produce([later])
            #expect(try await collector.waitForCompletions(of: ["after"], timeout: .seconds(30)))
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func transientFaultsAreRetriedAsNewAttemptsUntilEveryJobSucceeds() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.chunkCount = 6
        emulator.faults = GigaChatEmulatorFaults(
            rateLimitedRate: 0.07,
            internalErrorRate: 0.07,
            unavailableRate: 0.06,
            cutStreamRate: 0.2
        )
        try await WorkerTestBed.run(emulator: emulator) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.concurrency = 16 })
            let jobs = (0..<300).map { TestJob(id: "f-\($0)", prompt: "faulty \($0) a b c d e f", stream: $0 % 2 == 0) }
            try await bed.produce(jobs)
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(120)))
            let completions = collector.snapshot.completions.map(\.record)
            #expect(completions.count == jobs.count, "one completion per job, none for retried attempts")
            #expect(completions.allSatisfy { $0.status == .ok }, "\(completions.filter { $0.status != .ok }.prefix(3))")
            let retried = completions.filter { $0.attempts > 1 }
            #expect(retried.count > 30, "faults hit about 1 in 4 attempts: \(retried.count) retried")
            for job in jobs {
                guard let record = completions.first(where: { $0.id == job.id }) else { continue }
                #expect(record.content == job.expectedContent)
                if job.stream {
                    let rebuilt = collector.rebuilt(attemptID: record.attemptID ?? "")
                    #expect(rebuilt.complete && rebuilt.text == record.content, "\(job.id) attempt \(record.attempts)")
                }
            }
            let counters = bed.emulator.counters
            #expect(counters.rateLimited > 0 && counters.injectedErrors > 0 && counters.cutStreams > 0)
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func tokensThatExpireEveryFiveSecondsFailNoJob() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.tokenLifetime = .seconds(5)
        emulator.timeToFirstToken = .milliseconds(50)
        try await WorkerTestBed.run(emulator: emulator) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.concurrency = 8 })
            // 30 s of steady load: 10 jobs every second.
            var ids: Set<String> = []
            let start = ContinuousClock.now
            var batch = 0
            while ContinuousClock.now - start < .seconds(30) {
                let jobs = (0..<10).map {
                    TestJob(id: "t-\(batch)-\($0)", prompt: "token \(batch) \($0)", stream: $0 % 2 == 0)
                }
                ids.formUnion(jobs.map(\.id))
                try await bed.produce(jobs)
                batch += 1
                try await Task.sleep(for: .seconds(1))
            }
            #expect(try await collector.waitForCompletions(of: ids, timeout: .seconds(60)))
            let completions = collector.snapshot.completions.map(\.record)
            #expect(completions.count == ids.count)
            #expect(completions.allSatisfy { $0.status == .ok }, "\(completions.filter { $0.status != .ok }.prefix(3))")
            // The token was renewed along the way, not once per request.
            let oauth = bed.emulator.counters.oauthCalls
            #expect(oauth >= 5 && oauth < ids.count / 4, "\(oauth) OAuth calls for \(ids.count) jobs")
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func aJobWhoseDeadlineHasPassedFailsWithoutCallingGigaChat() async throws {
        try await WorkerTestBed.run(partitions: 1) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration())
            var late = TestJob(id: "late", prompt: "too late")
            late.deadline = Date(timeIntervalSinceNow: -60)
            let onTime = TestJob(id: "on-time", prompt: "in time")
            try await bed.produce([late, onTime])
            #expect(try await collector.waitForCompletions(of: ["late", "on-time"], timeout: .seconds(30)))
            let completions = collector.snapshot.completions.map(\.record)
            let failed = try #require(completions.first { $0.id == "late" })
            #expect(failed.status == .failed)
            #expect(failed.error?.code.rawValue == "deadline_exceeded")
            #expect(failed.attempts == 0)
            #expect(completions.first { $0.id == "on-time" }?.status == .ok)
            #expect(bed.emulator.counters.chatCalls == 1, "only the job in time called GigaChat")
            try await worker.stop()
            try await collector.close()
        }
    }

    @Test func jobsTimeoutCountsAJobsOwnRunningTimeNotItsWaitInTheBuffer() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .seconds(1)
        try await WorkerTestBed.run(partitions: 1, emulator: emulator) { bed in
            let collector = try bed.collector()
            // Six 1 s answers one at a time: the last waits 5 s in the buffer, twice the timeout, and is answered.
            let patient = try bed.startWorker(
                bed.configuration {
                    $0.concurrency = 1
                    $0.jobTimeout = .milliseconds(2_500)
                }
            )
            let backlog = (0..<6).map { TestJob(id: "b-\($0)", prompt: "backlog \($0)") }
            try await bed.produce(backlog)
            #expect(try await collector.waitForCompletions(of: Set(backlog.map(\.id)), timeout: .seconds(60)))
            let answered = collector.snapshot.completions.map(\.record)
            #expect(answered.allSatisfy { $0.status == .ok }, "\(answered.filter { $0.status != .ok }.prefix(3))")
            try await patient.stop()
            // A job whose own answer takes longer than the timeout still ends at it.
            let strict = try bed.startWorker(bed.configuration { $0.jobTimeout = .milliseconds(400) })
            try await bed.produce([TestJob(id: "slow", prompt: "slower than the timeout")])
            #expect(try await collector.waitForCompletions(of: ["slow"], timeout: .seconds(60)))
            let slow = try #require(collector.snapshot.completions.last { $0.record.id == "slow" }?.record)
            #expect(slow.status == .failed && slow.error?.code.rawValue == "deadline_exceeded", "\(slow)")
            #expect(slow.attempts == 1)
            try await strict.stop()
            try await collector.close()
        }
    }

    @Test func perKeyModeAnswersEachKeyInOffsetOrderWhileKeysRunInParallel() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .milliseconds(150)
        try await WorkerTestBed.run(partitions: 1, emulator: emulator) { bed in
            let collector = try bed.collector()
            let worker = try bed.startWorker(
                bed.configuration {
                    $0.ordering = .perKey
                    $0.concurrency = 8
                }
            )
            var jobs: [TestJob] = []
            for index in 0..<40 {
                var job = TestJob(id: "k\(index % 4)-\(index / 4)", prompt: "keyed \(index)")
                job.key = "key-\(index % 4)"
                jobs.append(job)
            }
            // The test bed sends concurrently, so a key's offset order is whatever the broker stored: the chain
            // follows the offsets, not the ids.
            let stored = try await bed.produce(jobs)
            #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id)), timeout: .seconds(60)))
            let completions = collector.snapshot.completions
            let answers = Dictionary(grouping: completions, by: \.record.id)
            var checkedPairs = 0
            for key in 0..<4 {
                let ids = (0..<10).map { "k\(key)-\($0)" }.sorted {
                    stored[$0]?.offset ?? -1 < stored[$1]?.offset ?? -1
                }
                let chain = ids.map { answers[$0] ?? [] }
                #expect(chain.allSatisfy { !$0.isEmpty })
                // Each job starts after the previous one's completion was acknowledged, so completions are at least
                // the answer time apart. (A job answered twice, after a rebalance re-delivered it, has no single
                // place in the chain: such pairs are left out, and there must be few.)
                for (earlier, later) in zip(chain, chain.dropFirst()) where earlier.count == 1 && later.count == 1 {
                    guard let first = earlier[0].timestamp, let second = later[0].timestamp else { continue }
                    #expect(second.timeIntervalSince(first) >= 0.12, "key \(key): \(first) then \(second)")
                    checkedPairs += 1
                }
            }
            #expect(checkedPairs >= 30, "\(checkedPairs) of 36 pairs had one completion each")
            #expect(bed.emulator.counters.maxConcurrentChats > 1, "different keys ran in parallel")
            #expect(bed.emulator.counters.maxConcurrentChats <= 4, "never two jobs of one key at once")
            try await worker.stop()
            try await collector.close()
        }
    }
}
