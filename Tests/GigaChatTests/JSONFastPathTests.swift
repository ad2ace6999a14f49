import Foundation
import NIOCore
import Testing

@testable import GigaChat

/// The JSON fast paths (parser, writer, model readers) against Foundation's decoder and encoder.
@Suite struct JSONFastPathTests {
    /// Foundation's reading of the same text, as a `JSONValue`.
    static func reference(_ text: String) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    @Test(arguments: [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        #"  [ 1 , -2.5e3 , 0.000001 , 12345678901234567 , -0 ]  "#,
        #""escapes: \" \\ \/ \b \f \n \r \t \u0041 \u00e9 \u6f22 \ud83c\udf89""#,
        #"{"unicode":"Привет, 漢字 🎉","empty":"","nested":[[[[{}]]]]}"#,
        #"{"dup":1,"dup":2}"#,
        "12", "true", "null", #""""#,
    ])
    func parsesLikeFoundation(text: String) throws {
        #expect(try JSONValue(parsing: Array(text.utf8)) == (try Self.reference(text)))
    }

    @Test(arguments: [
        "", "{", "[1,]", #"{"a":}"#, #"{"a" 1}"#, "01", "1.", "-", ".5", "tru", #""\x""#, #""\ud800""#,
        "\"tab\there\"", "[1] 2", #"{"a":1,}"#, "nul", "{,}", "[,1]", #"{"a":1 "b":2}"#, "[1 2]", #"{"a":1"#, "[1",
        #"{"a":1,,"b":2}"#, #"{"a"}"#, "[}", #"{"a":1]"#,
    ])
    func rejectsWhatIsNotJSON(text: String) {
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: Array(text.utf8)) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 600) + String(repeating: "]", count: 600)
        #expect(throws: JSONValue.ParseError.self) { try JSONValue(parsing: Array(deep.utf8)) }
    }

    @Test func chunksOfTheRecordedStreamReadLikeCodable() throws {
        let fixture = try Fixtures.bytes("stream_simple.sse")
        let texts = SSEParserTests.parse(fixture).compactMap(SSEParserTests.text)
        #expect(texts.count > 2)
        for text in texts {
            let fast = try ChatChunk(json: Array(text.utf8))
            let codable = try JSONDecoder().decode(ChatChunk.self, from: Data(text.utf8))
            #expect(fast == codable, "\(text)")
        }
    }

    /// The member-by-member chunk reader (no dictionary per event) against Codable on the shapes a stream may send:
    /// nulls, unknown and nested members, escapes, function calls, usage, white space, an empty object.
    @Test(arguments: [
        #"{"choices":[{"delta":{"content":"Hi","role":"assistant"},"index":0}],"created":1,"model":"GigaChat:2","object":"chat.completion"}"#,
        #"{"choices":[{"delta":{"content":""},"index":0,"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"precached_prompt_tokens":1,"system_tokens":0}}"#,
        #" { "choices" : [ { "delta" : { "content" : "\"q\" \u00e9 \ud83c\udf89\n" } } ] , "extra" : { "a" : [ 1 , { "b" : null } ] } } "#,
        #"{"choices":[{"delta":{"content":null,"function_call":{"name":"f","arguments":{"x":[1,2]}},"functions_state_id":"s"},"finish_reason":"function_call","index":0}]}"#,
        #"{"choices":[{"delta":{"reasoning_content":"think"},"index":1},{"delta":{},"index":2}],"model":null,"created":null}"#,
        #"{"choices":[]}"#, #"{}"#, #"{"choices":null,"usage":null}"#,
        #"{"choices":[{"delta":{"cont\u0065nt":"escaped name"}}],"mode":"x","models":"y","":"empty name"}"#,
    ])
    func chunkMembersReadLikeCodable(text: String) throws {
        let fast = try ChatChunk(json: Array(text.utf8))
        let codable = try JSONDecoder().decode(ChatChunk.self, from: Data(text.utf8))
        #expect(fast == codable)
    }

    @Test(arguments: [
        #"{"choices":"no"}"#, #"{"choices":[{"delta":{"content":1}}]}"#, #"{"choices":[{"index":1.5}]}"#,
        #"{"created":"x"}"#, #"[1]"#, "null", #"{"choices":[}"#, #"{"model":"m"} x"#, #"{"choices":[{"delta":[]}]}"#,
        #"{"created":1,,"model":"m"}"#, #"{"choices":[{"delta":{"content":"x"}"#, "null x",
    ])
    func chunkReaderRejectsWhatCodableRejects(text: String) {
        #expect(throws: (any Error).self) { try ChatChunk(json: Array(text.utf8)) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ChatChunk.self, from: Data(text.utf8)) }
    }

    /// Foundation's decoder takes a comma before a closing bracket; JSON (RFC 8259) does not, nor does this reader.
    @Test(arguments: [
        #"{"choices":[{"delta":{"content":"x",}}]}"#, #"{"choices":[{"index":0,}]}"#, #"{"model":"m",}"#,
    ])
    func chunkReaderRejectsATrailingComma(text: String) {
        #expect(throws: JSONValue.ParseError.self) { try ChatChunk(json: Array(text.utf8)) }
    }

    /// In an array a comma promises an item, and what follows it is not one.
    @Test func chunkReaderRejectsATrailingCommaInAnArray() {
        #expect(throws: JSONFields.TypeError(path: "choices[1]", expected: "an object")) {
            try ChatChunk(json: Array(#"{"choices":[{},]}"#.utf8))
        }
    }

    /// Bytes after a top-level `null` are a syntax error before `null` is the wrong type.
    @Test func bytesAfterTheValueAreReportedFirst() {
        #expect(throws: JSONValue.ParseError.self) { try ChatChunk(json: Array("null x".utf8)) }
        #expect(throws: JSONFields.TypeError(path: "", expected: "an object")) {
            try ChatChunk(json: Array("null".utf8))
        }
    }

    /// Whole numbers: short ones are summed as they are read, longer ones (or with a fraction or an exponent) go
    /// through a `Double`, as before; the values are written out here.
    @Test(arguments: [
        ("0", 0), ("-0", 0), ("7", 7), ("-42", -42), ("123456789012345", 123_456_789_012_345),
        ("-12345678901234", -12_345_678_901_234), ("1234567890123456", 1_234_567_890_123_456),
        ("9007199254740993", 9_007_199_254_740_992), ("2.0", 2), ("1e3", 1000), ("-1E+2", -100),
    ])
    func wholeNumbersAreReadExactly(number: String, expected: Int) throws {
        let chunk = try ChatChunk(json: Array(#"{"created":\#(number),"choices":[{"index":\#(number)}]}"#.utf8))
        #expect(chunk.created == expected)
        #expect(chunk.choices.first?.index == expected)
    }

    @Test(arguments: ["2.5", "1e-1"])
    func aNumberThatIsNotWholeIsTheWrongType(number: String) {
        #expect(throws: JSONFields.TypeError(path: "created", expected: "a whole number")) {
            try ChatChunk(json: Array(#"{"created":\#(number),"choices":[]}"#.utf8))
        }
    }

    @Test(arguments: ["-", "01", "-a", "1.", "1e"])
    func aNumberThatIsNotJSONIsASyntaxError(number: String) {
        #expect(throws: JSONValue.ParseError.self) {
            try ChatChunk(json: Array(#"{"created":\#(number),"choices":[]}"#.utf8))
        }
    }

    @Test func aChunkMemberOfTheWrongTypeIsNamedByItsPath() {
        #expect(throws: JSONFields.TypeError(path: "choices[1].delta.content", expected: "a string")) {
            try ChatChunk(json: Array(#"{"choices":[{"delta":{}},{"delta":{"content":7}}]}"#.utf8))
        }
    }

    /// The member-by-member answer reader (issue 17: no dictionary per object) against Codable on the shapes an
    /// answer may have: reasoning, attachments, function calls (arguments as an object or a string), nulls, unknown
    /// members, escapes, white space.
    @Test(arguments: [
        #"{"choices":[{"message":{"role":"assistant","content":"Hi \"x\"\n"},"index":0,"finish_reason":"stop"}],"created":1,"model":"GigaChat","object":"chat.completion","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5,"precached_prompt_tokens":1}}"#,
        #"{"choices":[{"message":{"role":"assistant","content":"a","reasoning_content":"think","attachments":["f1","f2"],"name":null},"finish_reason":"length"}],"model":"m"}"#,
        #"{"choices":[{"message":{"role":"assistant","content":null,"function_call":{"name":"f","arguments":"{\"x\":1}"},"functions_state_id":"s"},"index":0,"finish_reason":"function_call"}],"model":"m","extra":[1,{"y":null}]}"#,
        #" { "model" : "m" , "choices" : [ ] , "created" : null , "usage" : null } "#,
        #"{"choices":[{"message":{"role":"user","content":"x","attachments":null},"index":2},{"message":{"role":"assistant"}}],"model":"m","object":null}"#,
        #"{"choices":[],"model":"m","usage":{"completion_tokens":2,"extra":{"a":[1]},"total_tokens":null}}"#,
    ])
    func answerMembersReadLikeCodable(text: String) throws {
        let fast = try ChatResponse(json: Array(text.utf8))
        let codable = try JSONDecoder().decode(ChatResponse.self, from: Data(text.utf8))
        #expect(fast == codable)
    }

    @Test(arguments: [
        #"{"model":"m"}"#, #"{"choices":"no","model":"m"}"#, #"{"choices":[{"index":0}],"model":"m"}"#,
        #"{"choices":[{"message":{"content":"x"}}],"model":"m"}"#,
        #"{"choices":[{"message":{"role":"assistant","content":1}}],"model":"m"}"#,
        #"{"choices":[{"message":{"role":"assistant","attachments":[1]}}],"model":"m"}"#, #"{"choices":[]}"#,
        #"{"choices":[],"model":"m","usage":{"prompt_tokens":"x"}}"#, #"{"choices":[],"model":"m"} x"#, "null",
    ])
    func answerReaderRejectsWhatCodableRejects(text: String) {
        #expect(throws: (any Error).self) { try ChatResponse(json: Array(text.utf8)) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode(ChatResponse.self, from: Data(text.utf8)) }
    }

    /// What a rejected answer's error names: the member's path and what it should have been.
    @Test(arguments: [
        (#"{"model":"m"}"#, "choices", "an array"),
        (#"{"choices":[]}"#, "model", "a string"),
        (#"{"choices":[{"index":0}],"model":"m"}"#, "choices[0].message", "an object"),
        (#"{"choices":[{"message":{"content":"x"}}],"model":"m"}"#, "choices[0].message.role", "a string"),
        (
            #"{"choices":[{"message":{"role":"assistant","attachments":[1]}}],"model":"m"}"#,
            "choices[0].message.attachments", "a string"
        ),
        (#"{"choices":[],"model":"m","usage":{"total_tokens":1.5}}"#, "usage.total_tokens", "a whole number"),
        (#"{"choices":[],"model":"m","usage":[1]}"#, "usage", "an object"),
    ])
    func aRejectedAnswerNamesTheMember(text: String, path: String, expected: String) {
        let error = #expect(throws: JSONFields.TypeError.self) { try ChatResponse(json: Array(text.utf8)) }
        #expect(error?.path == path)
        #expect(error?.expected == expected)
    }

    /// Tolerances the reader keeps from the one before it: `choices: null` is no choices, and a repeated member
    /// keeps its first value.
    @Test func nullChoicesAreNoneAndARepeatedMemberKeepsItsFirstValue() throws {
        #expect(try ChatResponse(json: Array(#"{"choices":null,"model":"m"}"#.utf8)).choices.isEmpty)
        let repeated = try ChatResponse(json: Array(#"{"model":"first","choices":[],"model":"second"}"#.utf8))
        #expect(repeated.model == "first")
        // The first value stands even when it is null.
        let error = #expect(throws: JSONFields.TypeError.self) {
            try ChatResponse(json: Array(#"{"model":null,"choices":[],"model":"m"}"#.utf8))
        }
        #expect(error?.path == "model")
        #expect(try ChatChunk(json: Array(#"{"created":null,"created":5,"choices":[]}"#.utf8)).created == nil)
    }

    @Test func answersReadLikeCodable() throws {
        for name in ["chat_response.json", "function_call_response.json"] {
            let bytes = try Fixtures.bytes(name)
            let fast = try ChatResponse(json: bytes)
            let codable = try JSONDecoder().decode(ChatResponse.self, from: Data(bytes))
            #expect(fast == codable, "\(name)")
        }
        #expect(throws: (any Error).self) { try ChatResponse(json: Array(#"{"model":"m"}"#.utf8)) }
        #expect(throws: (any Error).self) { try ChatChunk(json: Array(#"{"choices":"no"}"#.utf8)) }
    }

    @Test func requestsAreWrittenLikeCodable() throws {
        let requests = [
            ChatRequest(model: "GigaChat", messages: [.system("Be brief."), .user("Привет \"quoted\"\n")]),
            ChatRequest(
                model: "GigaChat-2-Max",
                messages: [
                    .user("x"),
                    ChatMessage(
                        role: .assistant,
                        content: nil,
                        functionCall: ChatFunctionCall(name: "f", arguments: ["a": 1])
                    ),
                    ChatMessage(role: .function, content: "{\"r\":2}", name: "f"),
                ],
                temperature: 0.25,
                topP: 0.9,
                n: 1,
                maxTokens: 512,
                repetitionPenalty: 1.1,
                updateInterval: 0.5,
                functions: [ChatFunction(name: "f", description: "d", parameters: ["type": "object"])],
                functionCall: .auto,
                profanityCheck: true,
                flags: ["x"],
                extraParameters: ["response_format": ["type": "json_object"], "temperature": 9, "custom": [1, "two"]]
            ),
        ]
        for var request in requests {
            request.stream = true
            let fast = try JSONSerialization.jsonObject(with: Data(request.jsonBytes())) as! NSDictionary
            let codable = try JSONSerialization.jsonObject(with: JSONEncoder().encode(request)) as! NSDictionary
            #expect(fast == codable)
        }
    }
}

@Suite struct JSONStringScanTests {
    /// The word-at-a-time scan finds the same byte as a plain byte loop, for every special byte at every offset of
    /// words around it, among ASCII and multi-byte UTF-8.
    @Test func findsTheFirstSpecialByteAsAByteLoopDoes() {
        func naive(_ bytes: [UInt8], from start: Int) -> Int {
            bytes.indices.dropFirst(start).first { bytes[$0] == 0x22 || bytes[$0] == 0x5C || bytes[$0] < 0x20 }
                ?? bytes.count
        }
        let fillers: [[UInt8]] = [
            Array("abcdefghijklmnopqrstuvwx".utf8), Array("слово word ёж".utf8),
            [0x7F, 0x80, 0xFF, 0x21, 0x5B, 0x5D, 0x20, 0x23],
        ]
        for filler in fillers {
            for special in [0x22, 0x5C, 0x00, 0x0A, 0x1F] as [UInt8] {
                for position in 0..<filler.count {
                    var bytes = filler
                    bytes[position] = special
                    for start in 0...min(3, bytes.count) {
                        let found = bytes.withUnsafeBytes { JSONStringScan.firstSpecialByte(in: $0, from: start) }
                        #expect(found == naive(bytes, from: start), "\(bytes) from \(start)")
                    }
                }
            }
            // Two in one word: the first is found, whatever a borrow from it marks after it.
            for first in 0..<filler.count {
                for second in (first + 1)..<min(first + 9, filler.count + 1) where second < filler.count {
                    var bytes = filler
                    bytes[first] = [0x22, 0x5C, 0x1F][first % 3]
                    bytes[second] = [0x00, 0x22, 0x5C][second % 3]
                    let found = bytes.withUnsafeBytes { JSONStringScan.firstSpecialByte(in: $0, from: 0) }
                    #expect(found == first, "\(bytes)")
                }
            }
            let plain = filler.withUnsafeBytes { JSONStringScan.firstSpecialByte(in: $0, from: 0) }
            #expect(plain == naive(filler, from: 0))
        }
    }

    @Test func stringsWithEscapesBetweenLongPlainRunsRoundTrip() throws {
        let text =
            String(repeating: "слово word ", count: 40) + "\n\"quoted\"\t\\" + String(repeating: "x", count: 37)
            + "\u{1}"
        var bytes: [UInt8] = []
        JSONWriter.writeString(text, into: &bytes)
        let foundation = try JSONDecoder().decode(String.self, from: Data(bytes))
        #expect(foundation == text)
        let ours = try JSONValue(parsing: bytes)
        #expect(ours == .string(text))
    }
}
