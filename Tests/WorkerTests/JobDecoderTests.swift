import Foundation
import GigaChat
import Testing

@testable import WireFormat
@testable import Worker

@Suite struct JobDecoderTests {
    let decoder = JobDecoder(maxBytes: 4096)

    private func decode(_ text: String) -> Result<Job, JobRejection> {
        decoder.decode(Array(text.utf8))
    }

    private func rejection(_ text: String) -> JobRejection? {
        if case .failure(let rejection) = decode(text) { return rejection }
        return nil
    }

    @Test func decodesEveryFieldOfAFullJob() throws {
        let text = """
            {"id": "doc-42", "model": "GigaChat-2-Max",
             "messages": [{"role": "system", "content": "Summarise."}, {"role": "user", "content": "Текст"}],
             "stream": true, "api": "v2", "session_id": "invoices-2026", "options": {"temperature": 0.2, "max_tokens": 512, "update_interval": 0.1},
             "reply_to": "team-a.completions", "deadline": "2026-11-24T20:00:00Z",
             "metadata": {"source": "s3://bucket/doc-42.txt", "n": 3}}
            """
        let job = try decode(text).get()
        #expect(job.id == "doc-42")
        #expect(job.model == "GigaChat-2-Max")
        #expect(job.messages == [.system("Summarise."), .user("Текст")])
        #expect(job.stream == true)
        #expect(job.api == .v2)
        #expect(job.sessionID == "invoices-2026")
        #expect(job.options["max_tokens"] == .number(512))
        #expect(job.replyTo == "team-a.completions")
        #expect(job.deadline == Date(timeIntervalSince1970: 1_795_550_400))
        #expect(job.metadata == .object(["source": "s3://bucket/doc-42.txt", "n": 3]))
    }

    @Test func decodesAnEmbeddingsJob() throws {
        let job = try decode(
            #"{"id":"e","kind":"embeddings","model":"EmbeddingsGigaR","input":["один","two"],"reply_to":"vectors","metadata":{"n":1}}"#
        ).get()
        #expect(job.kind == .embeddings && job.input == ["один", "two"] && job.model == "EmbeddingsGigaR")
        #expect(job.messages.isEmpty && job.replyTo == "vectors" && job.metadata == .object(["n": 1]))
        let tooMany =
            "[" + Array(repeating: #""x""#, count: JobDecoder.defaultMaxEmbeddingsInputs + 1).joined(separator: ",")
            + "]"
        #expect(rejection(#"{"id":"e","kind":"embeddings","input":\#(tooMany)}"#)?.code == .tooLarge)
        let small = JobDecoder(maxBytes: 4096, maxEmbeddingsInputs: 2)
        #expect((try? small.decode(Array(#"{"id":"e","kind":"embeddings","input":["a","b"]}"#.utf8)).get()) != nil)
        #expect((try? small.decode(Array(#"{"id":"e","kind":"embeddings","input":["a","b","c"]}"#.utf8)).get()) == nil)
        #expect(
            try decode(#"{"id":"c","kind":"chat","messages":[{"role":"user","content":"hi"}]}"#).get().kind == .chat
        )
    }

    @Test func onlyIdAndMessagesAreRequired() throws {
        let job = try decode(#"{"id":"a","messages":[{"role":"user","content":"hi"}]}"#).get()
        #expect(job.stream == nil && job.model == nil && job.api == nil && job.options.isEmpty && job.deadline == nil)
    }

    @Test func acceptsFractionalSecondsAndOffsetsInTheDeadline() throws {
        let job = try decode(
            #"{"id":"a","messages":[{"role":"user","content":"hi"}],"deadline":"2026-11-24T23:00:00.5+03:00"}"#
        ).get()
        #expect(job.deadline == Date(timeIntervalSince1970: 1_795_550_400.5))
    }

    @Test(arguments: [
        ("", JobRejection.Code.emptyValue),
        (#"not json"#, .notJSON),
        (#"[1, 2]"#, .notAnObject),
        (#"{"messages":[{"role":"user","content":"hi"}]}"#, .missingField),
        (#"{"id":"","messages":[{"role":"user","content":"hi"}]}"#, .emptyField),
        (#"{"id":"a"}"#, .missingField),
        (#"{"id":"a","messages":[]}"#, .emptyField),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"prompt":"x"}"#, .unknownField),
        (#"{"id":7,"messages":[{"role":"user","content":"hi"}]}"#, .wrongType),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#, .wrongType),
        (#"{"id":"a","messages":"hi"}"#, .wrongType),
        (#"{"id":"a","messages":[{"role":"robot","content":"hi"}]}"#, .invalidRole),
        (#"{"id":"a","messages":[{"role":"user"}]}"#, .missingField),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"deadline":"tomorrow"}"#, .invalidDeadline),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"reply_to":"no spaces"}"#, .invalidReplyTo),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"api":"v3"}"#, .invalidAPI),
        (#"{"id":"a","kind":"images","messages":[{"role":"user","content":"hi"}]}"#, .wrongType),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"input":["x"]}"#, .unknownField),
        (#"{"id":"a","kind":"embeddings"}"#, .missingField),
        (#"{"id":"a","kind":"embeddings","input":[]}"#, .emptyField),
        (#"{"id":"a","kind":"embeddings","input":["x",1]}"#, .wrongType),
        (#"{"id":"a","kind":"embeddings","input":["x"],"stream":true}"#, .unknownField),
        (#"{"id":"a","kind":"embeddings","input":["x"],"messages":[{"role":"user","content":"hi"}]}"#, .unknownField),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"session_id":"two words"}"#, .wrongType),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"options":{"api":"v2"}}"#, .unknownField),
        (
            #"{"id":"a","messages":[{"role":"user","content":"hi"}],"options":{"response_format":{"type":"json_schema","schema":{"$ref":"http://x"}}}}"#,
            .invalidResponseFormat
        ),
        (
            #"{"id":"a","messages":[{"role":"user","content":"hi"}],"options":{"response_format":{"type":"xml"}}}"#,
            .invalidResponseFormat
        ),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"api":2}"#, .wrongType),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"options":{"temperature":"hot"}}"#, .wrongType),
        (#"{"id":"a","messages":[{"role":"user","content":"hi"}],"options":{"stream":true}}"#, .unknownField),
    ])
    func rejectsWithAReasonNamingTheProblem(text: String, code: JobRejection.Code) {
        let rejection = rejection(text)
        #expect(rejection?.code == code, "\(text) -> \(String(describing: rejection))")
        #expect(!(rejection?.message.isEmpty ?? true))
    }

    @Test func messagesNameTheField() {
        #expect(
            rejection(#"{"id":"a","messages":[{"role":"user","content":"hi"}],"prompt":"x"}"#)?.message.contains(
                "prompt"
            ) == true
        )
        #expect(
            rejection(#"{"id":"a","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#)?.message.contains(
                "stream"
            ) == true
        )
        #expect(
            rejection(#"{"id":"a","messages":[{"role":"user","content":"hi"},{"role":"x","content":"y"}]}"#)?.message
                .contains("messages[1]") == true
        )
        #expect(
            rejection(#"{"id":"a","messages":[{"role":"user","content":"hi"}],"options":{"temperature":"hot"}}"#)?
                .message.contains("temperature") == true
        )
    }

    @Test func rejectsANullValueInvalidUTF8AndOversizeValues() {
        #expect(decoder.decode(nil).rejection?.code == .emptyValue)
        #expect(decoder.decode([0x7B, 0xFF, 0xFE, 0x7D]).rejection?.code == .invalidUTF8)
        let big = #"{"id":"a","messages":[{"role":"user","content":""# + String(repeating: "x", count: 5000) + #""}]}"#
        #expect(decode(big).rejection?.code == .tooLarge)
    }

    @Test func legalTopicNames() {
        #expect(JobDecoder.isLegalTopicName("team-a.completions_1"))
        #expect(!JobDecoder.isLegalTopicName(""))
        #expect(!JobDecoder.isLegalTopicName(".."))
        #expect(!JobDecoder.isLegalTopicName("a/b"))
        #expect(!JobDecoder.isLegalTopicName(String(repeating: "a", count: 250)))
    }
}

extension Result where Failure == JobRejection {
    var rejection: JobRejection? {
        if case .failure(let rejection) = self { return rejection }
        return nil
    }
}
