import Foundation
import GigaChat
import Testing
import Worker

@testable import Batch

@Suite struct BatchLineFormatTests {
    func parse(_ text: String) throws -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    @Test func eachFormatIsDetectedAndBecomesAJob() throws {
        let ours = try parse(#"{"id":"a","messages":[{"role":"user","content":"hi"}],"metadata":{"k":1}}"#)
        let openAI = try parse(
            #"{"custom_id":"b","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o","messages":[{"role":"developer","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hello"}]}],"max_completion_tokens":50,"temperature":0.2,"logprobs":true}}"#
        )
        let gigaChat = try parse(#"{"id":7,"request":{"model":"GigaChat-2-Max","messages":[{"role":"user","content":"q"}],"top_p":0.5}}"#)
        #expect(BatchLineFormat.detect(ours.objectValue!) == .jobs)
        #expect(BatchLineFormat.detect(openAI.objectValue!) == .openai)
        #expect(BatchLineFormat.detect(gigaChat.objectValue!) == .gigachat)
        #expect(BatchLineFormat.detect(["custom": "x"]) == nil)

        let a = try BatchLineFormat.jobs.job(from: ours, number: 1, stream: true)
        #expect(a.id == "a" && a.value["stream"] == .bool(true) && a.value["metadata"]?["k"] == .number(1))

        let b = try BatchLineFormat.openai.job(from: openAI, number: 2)
        #expect(b.id == "b")
        #expect(b.value["model"] == nil, "an OpenAI model name is not sent to GigaChat")
        let messages = b.value["messages"]?.arrayValue ?? []
        #expect(messages.first?["role"] == .string("system") && messages.last?["content"] == .string("hello"))
        #expect(b.value["options"] == .object(["max_tokens": 50, "temperature": 0.2]), "logprobs is OpenAI's own")

        let c = try BatchLineFormat.gigachat.job(from: gigaChat, number: 3, model: nil)
        #expect(c.id == "7" && c.value["model"] == .string("GigaChat-2-Max") && c.value["options"] == .object(["top_p": 0.5]))
    }

    @Test func aLineWithoutAnIdIsANamedError() throws {
        let error = #expect(throws: BatchInputError.self) {
            try BatchLineFormat.jobs.job(from: try parse(#"{"messages":[]}"#), number: 4)
        }
        #expect(error?.message.contains("line 4") == true)
    }

    @Test func jobBytesAreCompactSortedJSON() {
        let job = BatchJob(id: "x", messages: [("user", "a/b")], model: "GigaChat")
        #expect(String(decoding: job.bytes, as: UTF8.self) == #"{"id":"x","messages":[{"content":"a/b","role":"user"}],"model":"GigaChat"}"#)
    }
}

@Suite struct DocumentJobsTests {
    @Test func idsFollowPathAndContentAndTheTemplateIsFilledIn() throws {
        let documents = DocumentJobs(template: "Summarise {{filename}}:\n{{document}}", system: "Кратко.")
        let one = try documents.jobs(path: "docs/a.txt", contents: Data("Привет".utf8))
        let again = try documents.jobs(path: "docs/a.txt", contents: Data("Привет".utf8))
        let changed = try documents.jobs(path: "docs/a.txt", contents: Data("Привет!".utf8))
        let moved = try documents.jobs(path: "docs/b.txt", contents: Data("Привет".utf8))
        #expect(one.count == 1 && one[0].id == again[0].id)
        #expect(one[0].id != changed[0].id && one[0].id != moved[0].id)
        #expect(one[0].id.hasPrefix("doc-") && one[0].id.count == 20)
        let messages = one[0].value["messages"]?.arrayValue ?? []
        #expect(messages.first?["content"] == .string("Кратко."))
        #expect(messages.last?["content"] == .string("Summarise a.txt:\nПривет"))
        #expect(one[0].value["metadata"]?["filename"] == .string("docs/a.txt"))
    }

    @Test func aLargeDocumentIsRefusedOrSplit() throws {
        let text = (0..<20).map { "Paragraph \($0) " + String(repeating: "слово ", count: 10) }.joined(separator: "\n\n")
        let refusing = DocumentJobs(template: "{{document}}", maxDocumentBytes: 300)
        let error = #expect(throws: BatchInputError.self) { try refusing.jobs(path: "big.txt", contents: Data(text.utf8)) }
        #expect(error?.message.contains("--split") == true)
        let splitting = DocumentJobs(template: "{{document}}", maxDocumentBytes: 300, split: true)
        let parts = try splitting.jobs(path: "big.txt", contents: Data(text.utf8))
        #expect(parts.count > 1)
        let contents = parts.compactMap { $0.value["messages"]?.arrayValue?.last?["content"]?.stringValue }
        #expect(contents.allSatisfy { $0.utf8.count <= 300 })
        #expect(contents.joined(separator: "\n\n") == text, "paragraph breaks are where it splits")
        #expect(Set(parts.map(\.id)).count == parts.count && parts[0].id.hasSuffix("-p1"))
    }

    @Test func splittingFallsBackToWordsAndCharacters() {
        let pieces = DocumentJobs.split(String(repeating: "абв ", count: 50), maxBytes: 20)
        #expect(pieces.allSatisfy { $0.utf8.count <= 20 } && pieces.count > 5)
        let noSpaces = DocumentJobs.split(String(repeating: "я", count: 30), maxBytes: 7)
        #expect(noSpaces.allSatisfy { $0.utf8.count <= 7 } && noSpaces.joined() == String(repeating: "я", count: 30))
    }

    @Test func foldersAndGlobsExpandToSortedFiles() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("docs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("sub"), withIntermediateDirectories: true)
        for name in ["b.txt", "a.md", "sub/c.txt", ".hidden"] {
            try Data("x".utf8).write(to: folder.appendingPathComponent(name))
        }
        let all = try DocumentJobs.files([folder.path])
        #expect(all.map { ($0 as NSString).lastPathComponent } == ["a.md", "b.txt", "c.txt"])
        let texts = try DocumentJobs.files([folder.path + "/*.txt"])
        #expect(texts.map { ($0 as NSString).lastPathComponent } == ["b.txt"])
        #expect(throws: BatchInputError.self) { try DocumentJobs.files([folder.path + "/*.pdf"]) }
    }
}

@Suite struct ManifestAndResultsTests {
    @Test func theManifestRemembersAcknowledgedIds() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("m-\(UUID().uuidString).jsonl").path
        let manifest = SubmitManifest(path: path)
        #expect(try manifest.ids().isEmpty)
        try manifest.append([("a", 0, 1), ("b\"q", 1, 2)])
        try manifest.append([("c", 0, 2)])
        #expect(try manifest.ids() == ["a", "b\"q", "c"])
    }

    func completion(_ id: String, _ status: String, attempt: String, content: String = "answer") -> [UInt8] {
        var text = #"{"id":"\#(id)","status":"\#(status)","attempts":1,"attempt_id":"\#(attempt)","latency_ms":5"#
        if status == "ok" {
            text += #","content":"\#(content)","finish_reason":"stop","model":"GigaChat:2","usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3,"precached_prompt_tokens":0}"#
        } else {
            text += #","error":{"code":"bad_request","message":"no","http_status":400}"#
        }
        return Array((text + "}").utf8)
    }

    @Test func theLastCompletionOfAnIdWinsAndOthersAreIgnored() throws {
        var results = CollectedResults(expected: ["a", "b", "c", "a"])
        #expect(results.expected == ["a", "b", "c"])
        results.add(completion("a", "failed", attempt: "1"))
        results.add(completion("zz", "ok", attempt: "2"))
        results.add(completion("a", "ok", attempt: "3", content: "second"))
        results.add(completion("b", "failed", attempt: "4"))
        #expect(results.ignored == 1)
        #expect(results.ok == 1 && results.failed == 1 && results.waiting == 1)
        #expect(results.missing == ["c"] && results.failedIDs == ["b"])
        let lines = results.lines(format: .jobs)
        #expect(lines.count == 2 && lines[0].contains("second"))
        let openAI = results.lines(format: .openai).map { try? JSONValue(parsing: Array($0.utf8)) }
        #expect(openAI[0]?["custom_id"] == .string("a"))
        #expect(openAI[0]?["response"]?["status_code"] == .number(200))
        #expect(openAI[0]?["response"]?["body"]?["choices"]?.arrayValue?.first?["message"]?["content"] == .string("second"))
        #expect(openAI[1]?["response"]?["status_code"] == .number(400))
        #expect(openAI[1]?["response"]?["body"]?["error"]?["type"] == .string("bad_request"))
        let summary = results.summary
        #expect(summary.jobs == 3 && summary.ok == 1 && summary.failed == 1 && summary.missing == 1)
        #expect(summary.promptTokens == 1 && summary.completionTokens == 2 && summary.latencyP50 == 5)
    }

    @Test func percentilesAreNearestRank() {
        let values = Array(1...100)
        #expect(CollectedResults.Summary.percentile(values, 0.5) == 50)
        #expect(CollectedResults.Summary.percentile(values, 0.99) == 99)
        #expect(CollectedResults.Summary.percentile([7], 0.99) == 7)
        #expect(CollectedResults.Summary.percentile([], 0.5) == nil)
    }
}

@Suite struct ReadingStartTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func sinceTakesAnRFC3339TimeOrASpanBackFromNow() {
        #expect(ReadingStart.parse("2026-11-26T09:00:00Z") == Date(timeIntervalSince1970: 1_795_683_600))
        #expect(ReadingStart.parse("2026-11-26T09:00:00.500+03:00") == Date(timeIntervalSince1970: 1_795_672_800.5))
        #expect(ReadingStart.parse("90s", now: now) == now.addingTimeInterval(-90))
        #expect(ReadingStart.parse("30m", now: now) == now.addingTimeInterval(-1800))
        #expect(ReadingStart.parse("2h", now: now) == now.addingTimeInterval(-7200))
        #expect(ReadingStart.parse("7d", now: now) == now.addingTimeInterval(-604_800))
        for bad in ["", "yesterday", "5", "-3h", "2w", "2026-11-26"] {
            #expect(ReadingStart.parse(bad, now: now) == nil, "\(bad)")
        }
    }

    @Test func theManifestSaysWhenItsFirstJobWasSubmitted() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("m-\(UUID().uuidString).jsonl").path
        let manifest = SubmitManifest(path: path)
        #expect(try manifest.firstSubmission() == nil)
        try manifest.append([("b", 0, 2)], submittedAt: now.addingTimeInterval(60))
        try manifest.append([("a", 0, 1)], submittedAt: now)
        #expect(try manifest.firstSubmission() == now)
        #expect(try manifest.ids() == ["b", "a"])
        // Collect starts ten minutes earlier, for clocks that disagree.
        #expect(ReadingStart.forManifest(firstSubmission: now) == now.addingTimeInterval(-600))
    }
}
