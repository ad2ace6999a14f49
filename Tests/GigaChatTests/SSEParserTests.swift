import Foundation
import NIOCore
import Testing

@testable import GigaChat

@Suite("SSEParser")
struct SSEParserTests {
    /// Parses `bytes` in pieces cut at `cuts` (sorted offsets) and returns all events, finish included.
    static func parse(_ bytes: [UInt8], cuts: [Int] = []) -> [SSEEvent] {
        var parser = SSEParser()
        var events: [SSEEvent] = []
        var start = 0
        for cut in cuts + [bytes.count] where cut >= start {
            parser.parse(ByteBuffer(bytes: bytes[start..<cut])) { events.append($0) }
            start = cut
        }
        parser.finish { events.append($0) }
        return events
    }

    static func text(_ event: SSEEvent) -> String? {
        if case .data(let bytes) = event { return String(decoding: bytes, as: UTF8.self) }
        return nil
    }

    /// The fixture's events, found independently of the parser: blocks split on blank lines, `data: ` dropped.
    static func expectedFixtureEvents() throws -> [String] {
        let text = String(decoding: try Fixtures.bytes("stream_simple.sse"), as: UTF8.self)
        return text.components(separatedBy: "\n\n").filter { !$0.isEmpty }.map { String($0.dropFirst("data: ".count)) }
    }

    @Test func parsesRecordedShapeIntoChunksWithUsageBeforeDone() throws {
        let events = Self.parse(try Fixtures.bytes("stream_simple.sse"))
        let expected = try Self.expectedFixtureEvents()
        #expect(events.count == expected.count)
        #expect(events.last == .done)
        #expect(expected.last == "[DONE]")
        let chunks = try events.dropLast().map { event in
            try JSONDecoder().decode(ChatChunk.self, from: Data(Self.text(event)!.utf8))
        }
        #expect(events.dropLast().map { Self.text($0)! } == Array(expected.dropLast()))
        // Role only in the first delta; finish_reason and usage only in the event before [DONE].
        #expect(chunks.first?.choices.first?.delta.role == .assistant)
        #expect(chunks.dropFirst().allSatisfy { $0.choices.first?.delta.role == nil })
        #expect(chunks.dropLast().allSatisfy { $0.finishReason == nil && $0.usage == nil })
        #expect(chunks.last?.finishReason == .stop)
        #expect(chunks.last?.content == "")
        let usage = try #require(chunks.last?.usage)
        #expect(usage.precachedPromptTokens > 0)
        // As in the recorded traffic (../shared/GIGACHAT_API.md §2.3-2.4): the total counts cached prompt tokens too.
        #expect(usage.totalTokens == usage.promptTokens + usage.completionTokens)
        // Content with `": "` inside survives (the gigachat-js split-on-": " bug).
        let content = chunks.map(\.content).joined()
        let independent = try expected.dropLast().map { line -> String in
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            let choice = (object["choices"] as! [[String: Any]])[0]
            return (choice["delta"] as! [String: Any])["content"] as? String ?? ""
        }.joined()
        #expect(content == independent)
        #expect(content.contains("\": "))
    }

    @Test func anySplitOfTheBodyGivesTheSameEvents() throws {
        let variants: [[UInt8]] = try {
            let lf = try Fixtures.bytes("stream_simple.sse")
            let text = String(decoding: lf, as: UTF8.self)
            return [
                lf,
                Array(text.replacingOccurrences(of: "\n", with: "\r\n").utf8),
                Array(text.replacingOccurrences(of: "\n", with: "\r").utf8),
                Array(text.replacingOccurrences(of: "data: ", with: "data:").utf8),
            ]
        }()
        let reference = Self.parse(variants[0])
        var generator = SeededGenerator(seed: 0x5EED_0001)
        for (index, bytes) in variants.enumerated() {
            #expect(Self.parse(bytes) == reference, "variant \(index) unsplit")
            for iteration in 0..<500 {
                let pieces = Int.random(in: 1...40, using: &generator)
                let cuts = (0..<pieces).map { _ in Int.random(in: 0...bytes.count, using: &generator) }.sorted()
                let events = Self.parse(bytes, cuts: cuts)
                #expect(events == reference, "variant \(index), iteration \(iteration), cuts \(cuts)")
                if events != reference { return }
            }
            // Byte by byte: every split point at once, including inside UTF-8 sequences and inside CRLF.
            #expect(Self.parse(bytes, cuts: Array(0...bytes.count)) == reference, "variant \(index) byte by byte")
        }
    }

    @Test func splitsInsideMultiByteCharactersAndCRLFAreHarmless() throws {
        let body = Array("data: {\"c\":\"ж😀\"}\r\n\r\ndata: [DONE]\r\n\r\n".utf8)
        let multiByteStart = try #require(body.firstIndex(of: 0xF0))  // first byte of 😀
        let crlf = try #require(body.firstIndex(of: 0x0D))
        for cut in [multiByteStart + 1, multiByteStart + 2, multiByteStart + 3, crlf + 1] {
            let events = Self.parse(body, cuts: [cut])
            #expect(events.count == 2)
            #expect(Self.text(events[0]) == "{\"c\":\"ж😀\"}")
            #expect(events[1] == .done)
        }
    }

    @Test func framingVariants() {
        let cases: [(String, [SSEEvent])] = [
            ("data:{\"a\":1}\n\n", [.data(Array("{\"a\":1}".utf8))]),
            ("data: {\"a\":1}\n\n", [.data(Array("{\"a\":1}".utf8))]),
            // Only one space is removed after the colon.
            ("data:  x\n\n", [.data(Array(" x".utf8))]),
            (": keep-alive comment\n\ndata: x\n\n", [.data(Array("x".utf8))]),
            // v2 names its events; the name travels with the data and is forgotten at the event's end.
            ("event: message\nid: 7\nretry: 100\ndata: x\n\n", [.named("message", Array("x".utf8))]),
            ("event:response.message.done\ndata: y\n\n", [.named("response.message.done", Array("y".utf8))]),
            ("event: a\nevent: b\ndata: y\n\n", [.named("b", Array("y".utf8))]),
            ("event: a\n\ndata: y\n\n", [.data(Array("y".utf8))]),
            ("events: a\ndata: y\n\n", [.data(Array("y".utf8))]),
            ("event\ndata: y\n\n", [.data(Array("y".utf8))]),  // an empty name is no name
            ("event: a\nevent:\ndata: y\n\n", [.data(Array("y".utf8))]),  // the last name wins, even an empty one
            ("event: x\ndata: [DONE]\n\n", [.done]),  // [DONE] whatever the name
            ("data: line1\ndata: line2\n\n", [.data(Array("line1\nline2".utf8))]),
            ("data\n\n", [.data([])]),
            ("database: no\n\n", []),
            ("\n\n\n\ndata: x\n\n\n\n", [.data(Array("x".utf8))]),
            (
                "data: x\r\n\r\ndata: y\r\rdata: z\n\n",
                [.data(Array("x".utf8)), .data(Array("y".utf8)), .data(Array("z".utf8))]
            ),
            ("data: [DONE]\n\n", [.done]),
            ("data:[DONE]\n\n", [.done]),
            ("data: [DONE] \n\n", [.data(Array("[DONE] ".utf8))]),
            // A last event without the final blank line, and a last line without a terminator, are delivered.
            ("data: x\n", [.data(Array("x".utf8))]),
            ("data: [DONE]", [.done]),
            ("", []),
        ]
        for (input, expected) in cases {
            #expect(Self.parse(Array(input.utf8)) == expected, "input \(input.debugDescription)")
        }
    }

    @Test func longLineAcrossManyBuffers() {
        let payload = String(repeating: "абв", count: 50_000)
        let body = Array("data: \(payload)\n\ndata: [DONE]\n\n".utf8)
        let cuts = Array(stride(from: 7, to: body.count, by: 4093))
        let events = Self.parse(body, cuts: cuts)
        #expect(events == [.data(Array(payload.utf8)), .done])
    }

    @Test func deltaWithoutContentDecodes() throws {
        let json =
            #"{"choices":[{"delta":{"function_call":{"name":"f","arguments":{"x":1}}},"index":0}],"model":"GigaChat"}"#
        let chunk = try JSONDecoder().decode(ChatChunk.self, from: Data(json.utf8))
        #expect(chunk.choices.first?.delta.content == nil)
        #expect(chunk.content == "")
        #expect(chunk.functionCall?.arguments == ["x": 1])
        let empty = try JSONDecoder().decode(ChatChunk.self, from: Data(#"{"choices":[]}"#.utf8))
        #expect(empty.content == "")
    }

    @Test func aLineThatNeverEndsStopsAtTheBound() {
        var parser = SSEParser()
        parser.maximumEventBytes = 1024
        var events = 0
        let piece = ByteBuffer(bytes: Array("data: ".utf8) + [UInt8](repeating: 0x61, count: 700))
        parser.parse(piece) { _ in events += 1 }
        #expect(!parser.overflowed)
        parser.parse(ByteBuffer(bytes: [UInt8](repeating: 0x61, count: 700))) { _ in events += 1 }
        #expect(parser.overflowed)
        #expect(events == 0)
    }

    @Test func anEventOfManyDataLinesStopsAtTheBound() {
        var parser = SSEParser()
        parser.maximumEventBytes = 1024
        let line = "data: " + String(repeating: "b", count: 100) + "\n"
        parser.parse(ByteBuffer(string: String(repeating: line, count: 20))) { _ in }
        #expect(parser.overflowed)
    }
}

/// The client's reading of each API's events (``ChatEventDecoder``): which events carry a chunk, which end the
/// answer, and what a body that ends without its end marker is.
@Suite struct ChatEventDecoderTests {
    static let delta = #"{"choices":[{"delta":{"content":"a"},"index":0}]}"#
    static let v2Delta = #"{"messages":[{"role":"assistant","content":[{"text":"a"}]}]}"#

    /// Decodes a whole body; returns the chunks' texts and the error at the end, if any.
    static func decode(_ body: String, api: GigaChatAPI) -> (texts: [String], error: GigaChatError.Code?) {
        var decoder = ChatEventDecoder(api: api, requestID: "r")
        var texts: [String] = []
        do {
            try decoder.read(ByteBuffer(string: body)) { texts.append($0.content) }
            try decoder.end { texts.append($0.content) }
            return (texts, nil)
        } catch {
            return (texts, (error as? GigaChatError)?.code)
        }
    }

    @Test func v1EventsEndAtDoneAndWhatFollowsIsIgnored() {
        let body = "data: \(Self.delta)\n\nevent: named\ndata: \(Self.delta)\n\ndata: [DONE]\n\ndata: \(Self.delta)\n\n"
        let result = Self.decode(body, api: .v1)
        #expect(result.texts == ["a", "a"])  // a named event is read on v1 too
        #expect(result.error == nil)
        #expect(Self.decode("data: \(Self.delta)\n\n", api: .v1).error == .streamCut)
    }

    @Test func v2EventsAreNamedAndEndAtTheDoneEvent() {
        let body =
            "data: \(Self.v2Delta)\n\n"  // unnamed: not part of the answer
            + "event: response.message.delta\ndata: \(Self.v2Delta)\n\n"
            + "event: response.message.done\ndata: \(Self.v2Delta)\n\n"
            + "event: response.message.delta\ndata: \(Self.v2Delta)\n\n"  // after the end: ignored
        let result = Self.decode(body, api: .v2)
        #expect(result.texts == ["a", "a"])
        #expect(result.error == nil)
        // `[DONE]` ends a v2 stream too; a done event without data still ends it.
        #expect(
            Self.decode("event: response.message.delta\ndata: \(Self.v2Delta)\n\ndata: [DONE]\n\n", api: .v2).error
                == nil
        )
        // A done event with no data line is no event at all (SSE), so the stream is cut.
        #expect(Self.decode("event: response.message.done\n\n", api: .v2).error == .streamCut)
        #expect(Self.decode("event: response.message.delta\ndata: \(Self.v2Delta)\n\n", api: .v2).error == .streamCut)
    }

    @Test func anEventThatIsNotAChunkIsADecodingError() {
        #expect(Self.decode("data: {\"choices\":7}\n\ndata: [DONE]\n\n", api: .v1).error == .decoding)
    }
}
