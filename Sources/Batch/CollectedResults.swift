import Foundation
import GigaChat
import WireFormat

/// The completions `collect` has seen for the ids it waits for: the last one per id wins (a job answered again
/// after a crash, or re-submitted), others are counted and ignored.
public struct CollectedResults: Sendable {
    /// A completion and its bytes as published.
    public struct Entry: Sendable {
        public var record: CompletionRecord
        public var bytes: [UInt8]
    }

    /// The ids waited for, in their order.
    public let expected: [String]
    private let expectedSet: Set<String>
    public private(set) var latest: [String: Entry] = [:]
    /// Completions of ids not waited for (other jobs on the topic).
    public private(set) var ignored = 0

    public init(expected: [String]) {
        var seen: Set<String> = []
        self.expected = expected.filter { seen.insert($0).inserted }
        self.expectedSet = seen
    }

    /// Records one completion record's bytes.
    /// - Returns: The completion when it is one of the expected ids (also a repeated one).
    @discardableResult
    public mutating func add(_ bytes: [UInt8]) -> CompletionRecord? {
        guard let record = try? JSONDecoder().decode(CompletionRecord.self, from: Data(bytes)),
            expectedSet.contains(record.id)
        else {
            ignored += 1
            return nil
        }
        latest[record.id] = Entry(record: record, bytes: bytes)
        return record
    }

    /// Whether `id` is one of the ids waited for.
    public func isExpected(_ id: String) -> Bool { expectedSet.contains(id) }

    public var ok: Int { latest.values.count { $0.record.status == .ok } }
    public var failed: Int { latest.values.count { $0.record.status != .ok } }
    public var waiting: Int { expected.count - latest.count }
    public var isComplete: Bool { latest.count == expected.count }
    /// Expected ids without a completion, in order.
    public var missing: [String] { expected.filter { latest[$0] == nil } }
    public var failedIDs: [String] { expected.filter { latest[$0].map { $0.record.status != .ok } ?? false } }

    /// Totals and percentiles of the answered jobs, for the end of `collect` and the demo.
    public struct Summary: Sendable, Hashable {
        public var jobs: Int
        public var ok: Int
        public var failed: Int
        public var missing: Int
        public var promptTokens: Int
        public var completionTokens: Int
        /// The part of ``promptTokens`` GigaChat's prefix cache served (not billed).
        public var cachedTokens: Int
        /// Latency (taken by the worker -> completion) and time to first token, in ms: p50 and p99 (nearest rank).
        public var latencyP50: Int?
        public var latencyP99: Int?
        public var timeToFirstTokenP50: Int?
        public var timeToFirstTokenP99: Int?

        static func percentile(_ sorted: [Int], _ fraction: Double) -> Int? {
            guard !sorted.isEmpty else { return nil }
            let rank = Int((fraction * Double(sorted.count)).rounded(.up))
            return sorted[min(sorted.count - 1, max(0, rank - 1))]
        }
    }

    public var summary: Summary {
        let records = latest.values.map(\.record)
        let latencies = records.map(\.latencyMilliseconds).sorted()
        let ttfts = records.compactMap { $0.status == .ok ? $0.timeToFirstTokenMilliseconds : nil }.sorted()
        return Summary(
            jobs: expected.count,
            ok: ok,
            failed: failed,
            missing: waiting,
            promptTokens: records.reduce(0) { $0 + ($1.usage?.promptTokens ?? 0) },
            completionTokens: records.reduce(0) { $0 + ($1.usage?.completionTokens ?? 0) },
            cachedTokens: records.reduce(0) { $0 + ($1.usage?.precachedPromptTokens ?? 0) },
            latencyP50: Summary.percentile(latencies, 0.5),
            latencyP99: Summary.percentile(latencies, 0.99),
            timeToFirstTokenP50: Summary.percentile(ttfts, 0.5),
            timeToFirstTokenP99: Summary.percentile(ttfts, 0.99)
        )
    }

    /// The results file's lines, in the expected order (missing ids have none).
    public func lines(format: ResultFormat) -> [String] {
        expected.compactMap { id in
            guard let entry = latest[id] else { return nil }
            switch format {
            case .jobs: return String(decoding: entry.bytes, as: UTF8.self)
            case .openai: return Self.openAILine(entry.record)
            }
        }
    }

    /// One line of OpenAI's Batch API output for a completion: `custom_id` is the job id; a failed job has the
    /// HTTP status GigaChat gave (500 when none) and `body.error`.
    static func openAILine(_ record: CompletionRecord) -> String {
        var response: [String: JSONValue] = [
            "request_id": .string(record.attemptID ?? record.id)
        ]
        if record.status == .ok {
            var message: [String: JSONValue] = ["role": "assistant", "content": .string(record.content ?? "")]
            if let call = record.functionCall {
                // OpenAI sends the arguments as a JSON string.
                let arguments = BatchJob(id: record.id, value: call.arguments ?? .object([:])).bytes
                message["function_call"] = .object([
                    "name": .string(call.name), "arguments": .string(String(decoding: arguments, as: UTF8.self)),
                ])
            }
            var body: [String: JSONValue] = [
                "object": "chat.completion",
                "model": .string(record.model ?? ""),
                "choices": .array([
                    .object([
                        "index": 0, "message": .object(message),
                        "finish_reason": record.finishReason.map(JSONValue.string) ?? .null,
                    ])
                ]),
            ]
            if let usage = record.usage {
                body["usage"] = .object([
                    "prompt_tokens": .number(Double(usage.promptTokens)),
                    "completion_tokens": .number(Double(usage.completionTokens)),
                    "total_tokens": .number(Double(usage.totalTokens)),
                    "prompt_tokens_details": .object(["cached_tokens": .number(Double(usage.precachedPromptTokens))]),
                ])
            }
            response["status_code"] = 200
            response["body"] = .object(body)
        } else {
            let code = record.error?.code.rawValue ?? "failed"
            response["status_code"] = .number(Double(record.error?.httpStatus ?? 500))
            response["body"] = .object([
                "error": .object(["type": .string(code), "message": .string(record.error?.message ?? code)])
            ])
        }
        let line: JSONValue = .object([
            "id": .string("batch_req_" + record.id),
            "custom_id": .string(record.id),
            "response": .object(response),
            "error": .null,
        ])
        return String(decoding: BatchJob(id: record.id, value: line).bytes, as: UTF8.self)
    }
}
