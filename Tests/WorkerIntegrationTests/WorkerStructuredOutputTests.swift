import Foundation
import GigaChat
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

/// Structured output end to end: the worker checks every answer against the job's schema, corrects what breaks it,
/// and hands out the parsed value.
@Suite("Structured output against Tansu and the emulator", .serialized, .timeLimit(.minutes(3)))
struct WorkerStructuredOutputTests {
    /// An invoice as pydantic writes its schema: a nested model behind `$ref`, bounds, a closed set, an optional field.
    static let schemaJSON = ##"""
        {"type": "object", "title": "Invoice", "required": ["number", "currency", "total", "lines"],
         "$defs": {"Line": {"type": "object", "required": ["item", "quantity"],
                            "properties": {"item": {"type": "string", "minLength": 1},
                                           "quantity": {"type": "integer", "minimum": 1, "maximum": 50}}}},
         "properties": {"number": {"type": "string", "minLength": 6},
                        "currency": {"enum": ["RUB", "USD"]},
                        "total": {"type": "number", "exclusiveMinimum": 0},
                        "lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}, "minItems": 1},
                        "note": {"anyOf": [{"type": "string"}, {"type": "null"}]}},
         "additionalProperties": false}
        """##

    static func object(_ json: String) -> any Sendable {
        try! JSONSerialization.jsonObject(with: Data(json.utf8)) as! [String: Any] as! (any Sendable)
    }

    @Test func aHundredStructuredJobsAreAllParsedWithCorrectionsAndTheImpossibleOnesFailClearly() async throws {
        let rate = 0.2
        try await WorkerTestBed.run(
            partitions: 4,
            emulator: .init(faults: .init(invalidStructuredRate: rate))
        ) { bed in
            let format =
                ["type": "json_schema", "schema": Self.object(Self.schemaJSON), "strict": true]
                as [String: any Sendable]
            var jobs: [TestJob] = []
            for index in 0..<100 {
                var job = TestJob(id: "invoice-\(index)", prompt: "Invoice\(index) from ACME, 3 chairs")
                job.stream = index % 2 == 0
                job.api = index % 3 == 0 ? "v2" : nil
                job.options = ["response_format": format]
                jobs.append(job)
            }
            // A schema no value satisfies (the emulator's best effort breaks it), and an answer cut by max_tokens.
            var impossible = TestJob(id: "impossible", prompt: "Count them")
            impossible.options = [
                "response_format": [
                    "type": "json_schema",
                    "schema": Self.object(
                        #"{"type":"object","required":["n"],"properties":{"n":{"type":"integer","minimum":5,"maximum":3}}}"#
                    ),
                ] as [String: any Sendable]
            ]
            var cut = TestJob(id: "cut", prompt: "Invoice cut short")
            cut.options = ["response_format": format, "max_tokens": 3]
            let all = jobs + [impossible, cut]

            let collector = try bed.collector()
            let worker = try bed.startWorker(bed.configuration { $0.concurrency = 16 })
            let stored = try await bed.produce(all)
            let done = try await collector.waitForCompletions(of: Set(all.map(\.id)), timeout: .seconds(120))
            #expect(done)
            let byID = Dictionary(grouping: collector.snapshot.completions, by: \.record.id)
            #expect(byID.values.allSatisfy { $0.count == 1 }, "one completion per job")

            let schema = try JSONSchema(JSONValue(parsing: Array(Self.schemaJSON.utf8)))
            let corrected = Set(
                jobs.filter { GigaChatEmulator.answersInvalidJSON(to: $0.prompt, rate: rate) }.map(\.id)
            )
            #expect((10...30).contains(corrected.count), "about 20% of first attempts are not JSON: \(corrected.count)")
            for job in jobs {
                guard let record = byID[job.id]?.first?.record else { continue }
                #expect(record.status == .ok, "\(job.id): \(String(describing: record.error))")
                let parsed = try #require(record.parsed, "\(job.id) has a parsed value")
                #expect(schema.firstViolation(in: parsed) == nil, "\(job.id): the parsed value satisfies the schema")
                #expect(try JSONValue(parsing: Array((record.content ?? "").utf8)) == parsed)
                #expect(
                    record.attempts == (corrected.contains(job.id) ? 2 : 1),
                    "\(job.id): one correction when needed"
                )
                if job.stream {
                    let rebuilt = collector.rebuilt(attemptID: record.attemptID ?? "")
                    #expect(
                        rebuilt.complete && rebuilt.text == record.content,
                        "\(job.id): partials rebuild the answer"
                    )
                }
            }
            let failedImpossible = try #require(byID["impossible"]?.first?.record)
            #expect(failedImpossible.status == .failed && failedImpossible.error?.code.rawValue == "invalid_output")
            #expect(failedImpossible.error?.message.hasPrefix("$.n: 3 is below the minimum 5") == true)
            #expect(failedImpossible.attempts == 2 && failedImpossible.parsed == nil)
            let failedCut = try #require(byID["cut"]?.first?.record)
            #expect(failedCut.error?.code.rawValue == "truncated" && failedCut.attempts == 1)
            // First attempts of the two failing jobs may have been chosen too.
            let chosen = all.filter { GigaChatEmulator.answersInvalidJSON(to: $0.prompt, rate: rate) }.count
            #expect(bed.emulator.counters.invalidStructuredAnswers == chosen)

            let ends = WorkerTestBed.ends(of: stored.values)
            #expect(try await bed.waitForCommits(reaching: ends) == ends)
            try await worker.stop()
            try await collector.close()
        }
    }
}
