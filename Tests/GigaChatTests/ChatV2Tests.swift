import Foundation
import GigaChatEmulator
import NIOCore
import Testing

@testable import GigaChat

/// The v2 chat API: the body the client writes, the answers it maps back, and calls against the emulator.
@Suite("GigaChat v2 chat", .timeLimit(.minutes(1)))
struct ChatV2Tests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue(parsing: Array(text.utf8)) }

    @Test func v2BodyHasTheShapeTheSDKSends() throws {
        var assistant = ChatMessage(
            role: .assistant,
            content: nil,
            functionCall: ChatFunctionCall(name: "get_order", arguments: ["id": "A-1"]),
            functionsStateID: "state-1"
        )
        assistant.reasoningContent = "not sent on v2"
        var request = ChatRequest(
            model: "GigaChat-2-Max",
            messages: [
                .system("Be brief."),
                ChatMessage(role: .user, content: "Read this", attachments: ["file-1", "file-2"]),
                assistant,
                ChatMessage(role: .function, content: #"{"status":"packed"}"#, name: "get_order"),
                ChatMessage(role: .function, content: "plain text"),  // the name comes from the call before it
            ],
            temperature: 0.5,
            maxTokens: 100,
            functions: [ChatFunction(name: "get_order", parameters: ["type": "object"])],
            functionCall: .function("get_order"),
            profanityCheck: true,
            flags: ["f1"],
            extraParameters: [
                "reasoning_effort": "high",
                "response_format": ["type": "json_schema", "schema": ["type": "object"]],
                "model_options": ["top_p": 0.2, "temperature": 9],
                "storage": ["limit": 3],
                "tools": [["web_search": [:]]],
            ]
        )
        request.stream = true
        let body = try Self.json(String(decoding: try request.v2JSONBytes(), as: UTF8.self))
        let expected = try Self.json(
            """
            {"model": "GigaChat-2-Max",
             "messages": [
               {"role": "system", "content": [{"text": "Be brief."}]},
               {"role": "user", "content": [{"text": "Read this"}, {"files": [{"id": "file-1"}, {"id": "file-2"}]}]},
               {"role": "assistant", "content": [{"function_call": {"name": "get_order", "arguments": {"id": "A-1"}}}],
                "tools_state_id": "state-1"},
               {"role": "tool", "content": [{"function_result": {"name": "get_order", "result": {"status": "packed"}}}],
                "tools_state_id": "state-1"},
               {"role": "tool", "content": [{"function_result": {"name": "get_order", "result": "plain text"}}],
                "tools_state_id": "state-1"}
             ],
             "model_options": {"temperature": 0.5, "top_p": 0.2, "max_tokens": 100,
                               "reasoning": {"effort": "high"},
                               "response_format": {"type": "json_schema", "schema": {"type": "object"}}},
             "tools": [{"functions": {"specifications": [{"name": "get_order", "parameters": {"type": "object"}}]}},
                       {"web_search": {}}],
             "tool_config": {"mode": "forced", "function_name": "get_order"},
             "disable_filter": false,
             "flags": ["f1"],
             "storage": {"limit": 3},
             "stream": true}
            """
        )
        #expect(body == expected)
    }

    @Test func aPlainV2BodyLeavesOutWhatIsNotSet() throws {
        let request = ChatRequest(
            model: "GigaChat",
            messages: [.user("Hi")],
            extraParameters: ["tools": [["code_interpreter": [:]]]]
        )
        let body = try Self.json(String(decoding: try request.v2JSONBytes(), as: UTF8.self))
        #expect(
            body
                == (try Self.json(
                    #"{"model": "GigaChat", "messages": [{"role": "user", "content": [{"text": "Hi"}]}], "tools": [{"code_interpreter": {}}]}"#
                ))
        )
    }

    @Test func extraParametersFollowTheSDKsRules() throws {
        func body(_ extra: [String: JSONValue], profanityCheck: Bool? = nil) throws -> JSONValue {
            let request = ChatRequest(messages: [.user("x")], profanityCheck: profanityCheck, extraParameters: extra)
            return try Self.json(String(decoding: try request.v2JSONBytes(), as: UTF8.self))
        }
        // A tool named by a string is the SDK's shorthand for an empty configuration.
        #expect(
            try body(["tools": ["web_search", ["code_interpreter": [:]]]]).objectValue?["tools"]
                == [["web_search": [:]], ["code_interpreter": [:]]]
        )
        // storage: true is {}, false is left out.
        #expect(try body(["storage": true]).objectValue?["storage"] == .object([:]))
        #expect(try body(["storage": false]).objectValue?["storage"] == nil)
        // model_options wins over the same option at the top level (the SDK's setdefault).
        #expect(
            try body(["model_options": ["response_format": ["type": "text"]], "response_format": ["type": "regex"]])
                .objectValue?["model_options"] == ["response_format": ["type": "text"]]
        )
        // An explicit disable_filter wins over profanity_check (which may come from the configuration).
        #expect(try body(["disable_filter": true], profanityCheck: true).objectValue?["disable_filter"] == true)
        #expect(try body([:], profanityCheck: true).objectValue?["disable_filter"] == false)
        // Shapes v2 cannot take are refused, not dropped.
        #expect(throws: GigaChatError.self) { try body(["model_options": "fast"]) }
        #expect(throws: GigaChatError.self) { try body(["tools": ["web_search": [:]]]) }
    }

    @Test func theStateIDAtTheTopOfAnAnswerIsRead() throws {
        let response = try V2ChatResponse(
            json: Array(
                #"{"model":"m","tools_state_id":"top-1","messages":[{"role":"assistant","content":[{"function_call":{"name":"f","arguments":{}}}]}],"finish_reason":"function_call"}"#
                    .utf8
            )
        ).response
        #expect(response.choices.first?.message.functionsStateID == "top-1")
    }

    @Test func v2HasNoChoicesSoNAboveOneIsRefusedBeforeSending() throws {
        let error = #expect(throws: GigaChatError.self) {
            try ChatRequest(messages: [.user("x")], n: 2).v2JSONBytes()
        }
        #expect(error?.code == .badRequest)
        #expect(error?.message.contains("n") == true)
        _ = try ChatRequest(messages: [.user("x")], n: 1).v2JSONBytes()
    }

    @Test func aV2AnswerMapsOntoTheV1Response() throws {
        let text = try V2ChatResponse(
            json: Array(
                #"{"model":"GigaChat-2-Pro:2.0.1","created_at":1780000000,"messages":[{"role":"assistant","content":[{"text":"Hel"},{"text":"lo"}]}],"finish_reason":"stop","usage":{"input_tokens":30,"input_tokens_details":{"prompt_tokens":30,"cached_tokens":24},"output_tokens":2,"total_tokens":32}}"#
                    .utf8
            )
        ).response
        #expect(text.content == "Hello")
        #expect(text.finishReason == .stop)
        #expect(text.model == "GigaChat-2-Pro:2.0.1")
        #expect(text.created == 1_780_000_000)
        #expect(text.choices.first?.message.role == .assistant)
        #expect(
            text.usage == ChatUsage(promptTokens: 30, completionTokens: 2, totalTokens: 32, precachedPromptTokens: 24)
        )

        let call = try V2ChatResponse(
            json: Array(
                #"{"model":"m","messages":[{"role":"assistant","tool_state_id":"s-9","content":[{"function_call":{"name":"lookup","arguments":{"q":"x"}}}]}],"finish_reason":"function_call","usage":{"input_tokens":5,"output_tokens":3}}"#
                    .utf8
            )
        ).response
        #expect(call.functionCall == ChatFunctionCall(name: "lookup", arguments: ["q": "x"]))
        #expect(call.choices.first?.message.functionsStateID == "s-9")
        #expect(call.finishReason == .functionCall)
        #expect(call.usage == ChatUsage(promptTokens: 5, completionTokens: 3, totalTokens: 8))

        let image = try V2ChatResponse(
            json: Array(
                #"{"model":"m","messages":[{"role":"assistant","content":[{"files":[{"id":"img-1","mime":"image/jpeg","target":"image"}]},{"text":"Drawn."}]}],"finish_reason":"stop"}"#
                    .utf8
            )
        ).response
        #expect(image.content == "Drawn.")
        #expect(image.choices.first?.message.attachments == ["img-1"])
        #expect(image.usage == nil)

        #expect(throws: (any Error).self) { try V2ChatResponse(json: Array(#"{"model":"m","choices":[]}"#.utf8)) }
    }

    @Test func v2StreamEventsMapOntoChunks() throws {
        let body = """
            event: response.message.delta
            data: {"model":"m:1","created_at":7,"messages":[{"role":"assistant","content":[{"text":"1, "}]}]}

            event: response.message.delta
            data: {"model":"m:1","created_at":7,"messages":[{"content":[{"text":"2"}]}]}

            event: response.message.done
            data: {"model":"m:1","created_at":7,"finish_reason":"stop","usage":{"input_tokens":4,"input_tokens_details":{"cached_tokens":1},"output_tokens":2,"total_tokens":6}}


            """
        var parser = SSEParser()
        var chunks: [(String, ChatChunk)] = []
        parser.parse(ByteBuffer(string: body)) { event in
            if case .named(let name, let data) = event { chunks.append((name, try! ChatChunk(v2: data))) }
        }
        #expect(chunks.map(\.0) == ["response.message.delta", "response.message.delta", "response.message.done"])
        #expect(chunks.map(\.1.content).joined() == "1, 2")
        #expect(chunks[0].1.choices.first?.delta.role == .assistant)
        #expect(chunks[1].1.choices.first?.delta.role == nil)
        #expect(chunks[2].1.finishReason == .stop)
        #expect(
            chunks[2].1.usage
                == ChatUsage(promptTokens: 4, completionTokens: 2, totalTokens: 6, precachedPromptTokens: 1)
        )
        #expect(chunks[0].1.created == 7 && chunks[0].1.model == "m:1")
    }

    /// The byte-level event reader says what the `JSONValue` one (``V2Messages``, used for whole answers) says.
    @Test func theStreamEventReaderAgreesWithTheWholeAnswerReader() throws {
        let events = [
            #"{"model":"m","created_at":1,"messages":[{"role":"assistant","content":[{"text":"a"},{"text":"b"}]}]}"#,
            #"{"messages":[{"content":[{"function_call":{"name":"f","arguments":{"x":1}}},{"text":"t"}],"tool_state_id":"s"}],"finish_reason":"function_call"}"#,
            #"{"tools_state_id":"top","messages":[{"role":"assistant","content":[{"files":[{"id":"f1","mime":"image/png"},{"id":"f2"}]}]},{"content":[{"text":"two"}],"finish_reason":"stop"}]}"#,
            #"{"model":null,"messages":null,"usage":{"input_tokens":3,"output_tokens":1,"input_tokens_details":{"cached_tokens":2}},"finish_reason":"length","extra":{"deep":[1,{"a":null}]}}"#,
            #"{"messages":[{"role":"assistant","content":[{"text":"\u043f\u0440\u0438\u0432\u0435\u0442 \"q\""}],"unknown":[1,2]}],"\u006dodel":"escaped-name"}"#,
            "{}",
        ]
        for event in events {
            let chunk = try ChatChunk(v2: Array(event.utf8))
            let fields = try JSONFields(try JSONValue(parsing: Array(event.utf8)))
            let folded = try V2Messages(fields)
            let delta = try #require(chunk.choices.first?.delta, "\(event)")
            #expect(
                delta.content == folded.text && delta.role == folded.role && delta.functionCall == folded.functionCall,
                "\(event)"
            )
            #expect((delta.attachments ?? []) == folded.files, "\(event)")
            #expect(chunk.model == (try fields.string("model")), "\(event)")
            #expect(chunk.usage == (try fields.object("usage").map(ChatUsage.init(v2:))), "\(event)")
            let finish = try fields.string("finish_reason") ?? folded.finishReason
            #expect(chunk.finishReason?.rawValue == finish, "\(event)")
            #expect(delta.functionsStateID == folded.stateID, "\(event)")
        }
        #expect(throws: (any Error).self) {
            try ChatChunk(v2: Array(#"{"messages":[{"content":[{"files":[{"mime":"x"}]}]}]}"#.utf8))
        }
        #expect(throws: (any Error).self) { try ChatChunk(v2: Array(#"{"messages":"no"}"#.utf8)) }
        #expect(throws: (any Error).self) { try ChatChunk(v2: Array(#"{"messages":[{"content":[{"text":"a"}]}"#.utf8)) }
    }

    @Test func theV2RootReplacesTheVersionOfTheBaseURL() {
        #expect(
            GigaChatClient.v2Root(of: "https://gigachat.devices.sberbank.ru/api/v1")
                == "https://gigachat.devices.sberbank.ru/api/v2"
        )
        #expect(GigaChatClient.v2Root(of: "https://api.giga.chat/v1") == "https://api.giga.chat/v2")
        #expect(GigaChatClient.v2Root(of: "http://127.0.0.1:8080/api/v12") == "http://127.0.0.1:8080/api/v2")
        #expect(GigaChatClient.v2Root(of: "https://proxy.local/gigachat") == "https://proxy.local/gigachat")
        #expect(GigaChatClient.v2Root(of: "https://proxy.local/video") == "https://proxy.local/video")
    }

    // MARK: Against the emulator

    @Test(arguments: StreamReading.allCases) func v2ChatAndStreamGiveTheV1AnswerAndMappedUsage(reading: StreamReading)
        async throws
    {
        try await EmulatorHarness.run { emulator, client, _ in
            let prompt = "Summarise the attached report please"
            let messages: [ChatMessage] = [.system("You are terse."), .user(prompt)]
            let v1 = try await client.chat(ChatRequest(messages: messages))
            let v2 = try await client.chat(ChatRequest(messages: messages, api: .v2))
            #expect(v2.content == EmulatorHarness.expectedAnswer(prompt))
            #expect(v2.content == v1.content)
            #expect(v2.usage == v1.usage)
            #expect(v2.finishReason == .stop)
            #expect(v2.model == v1.model)

            var chunks: [ChatChunk] = []
            try await client.readChunks(ChatRequest(messages: messages, api: .v2), reading) { chunk in
                chunks.append(chunk)
            }
            #expect(chunks.count > 2)
            #expect(chunks.map(\.content).joined() == v1.content)
            #expect(chunks.first?.choices.first?.delta.role == .assistant)
            #expect(chunks.last?.finishReason == .stop)
            #expect(chunks.last?.usage == v1.usage)
            #expect(chunks.dropLast().allSatisfy { $0.usage == nil && $0.finishReason == nil })
            #expect(emulator.counters.chatCalls == 3)
            #expect(emulator.counters.invalidRequests == 0)
        }
    }

    @Test(arguments: StreamReading.allCases) func cachedPromptTokensAreReadOnBothAPIs(reading: StreamReading)
        async throws
    {
        try await EmulatorHarness.run { emulator, client, _ in
            let messages: [ChatMessage] = [.system("You extract invoice fields"), .user("Invoice one")]
            let headers = GigaChatRequestHeaders(sessionID: "bulk-1")
            let first = try await client.chat(ChatRequest(messages: messages), headers: headers)
            #expect(first.usage?.precachedPromptTokens == 0, "nothing cached yet")
            // The same prefix in the same session: the system prompt's 4 tokens are served from the cache.
            let v1 = try await client.chat(ChatRequest(messages: messages), headers: headers)
            let v2 = try await client.chat(ChatRequest(messages: messages, api: .v2), headers: headers)
            var streamed: ChatUsage?
            try await client.readChunks(ChatRequest(messages: messages, api: .v2), headers: headers, reading) { chunk in
                if let usage = chunk.usage { streamed = usage }
            }
            #expect(v1.usage?.precachedPromptTokens == 4)
            #expect(v2.usage?.precachedPromptTokens == 4)
            #expect(streamed?.precachedPromptTokens == 4)
            #expect(emulator.counters.cachedPromptTokens == 12)
        }
    }

    @Test func theConfiguredAPIIsTheDefaultAndARequestMayOverrideIt() async throws {
        try await EmulatorHarness.run(configure: { $0.api = .v2 }) { emulator, client, _ in
            // The emulator refuses a v1 body on v2 (content must be parts), so success shows which API was called.
            let byDefault = try await client.chat(ChatRequest(messages: [.user("one two")]))
            #expect(byDefault.content == EmulatorHarness.expectedAnswer("one two"))
            let v1 = try await client.chat(ChatRequest(messages: [.user("one two")], api: .v1))
            #expect(v1.content == byDefault.content)
            #expect(emulator.counters.invalidRequests == 0)
        }
        #expect(
            try GigaChatConfiguration.fromEnvironment(["GIGACHAT_CREDENTIALS": "x", "GIGACHAT_API": "v2"]).api == .v2
        )
        #expect(try GigaChatConfiguration.fromEnvironment(["GIGACHAT_CREDENTIALS": "x"]).api == .v1)
        #expect(throws: GigaChatError.self) {
            try GigaChatConfiguration.fromEnvironment(["GIGACHAT_CREDENTIALS": "x", "GIGACHAT_API": "v3"])
        }
    }

    @Test func v2FunctionCallsAndStructuredOutputRoundTrip() async throws {
        try await EmulatorHarness.run { _, client, _ in
            let function = ChatFunction(
                name: "get_order_status",
                parameters: ["type": "object", "properties": ["order_id": ["type": "string"]]]
            )
            let call = try await client.chat(
                ChatRequest(
                    messages: [.user("Check A-1024")],
                    functions: [function],
                    functionCall: .function("get_order_status"),
                    api: .v2
                )
            )
            #expect(call.finishReason == .functionCall)
            #expect(call.functionCall?.name == "get_order_status")
            #expect(call.functionCall?.arguments?.objectValue?["order_id"] != nil)
            #expect(call.choices.first?.message.functionsStateID != nil)

            // The result goes back as a tool message with the state id; the model then answers in text.
            var history = call.choices[0].message
            history.content = nil
            let answer = try await client.chat(
                ChatRequest(
                    messages: [
                        .user("Check A-1024"), history,
                        // No state id here: the client carries the call's over, and the emulator requires it.
                        ChatMessage(role: .function, content: #"{"status":"packed"}"#, name: "get_order_status"),
                    ],
                    functions: [function],
                    api: .v2
                )
            )
            #expect(answer.finishReason == .stop)

            let schema: JSONValue = [
                "type": "object", "required": ["answer", "n"],
                "properties": ["answer": ["type": "string"], "n": ["type": "integer", "minimum": 1, "maximum": 10]],
            ]
            let structured = try await client.chat(
                ChatRequest(
                    messages: [.user("Return the fields")],
                    extraParameters: ["response_format": ["type": "json_schema", "schema": schema]],
                    api: .v2
                )
            )
            #expect(try Self.json(structured.content) == (try Self.json(#"{"answer":"Return","n":1}"#)))
        }
    }

    @Test(arguments: StreamReading.allCases) func aCutV2StreamIsStreamCutAndAMalformedEventIsADecodingError(
        reading: StreamReading
    ) async throws {
        try await EmulatorHarness.run(
            emulator: .init(chunkDelay: .milliseconds(200), chunkCount: 6, faults: .init(cutStreamAfterEvents: 2))
        ) { emulator, client, _ in
            var received: [String] = []
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user("a longer prompt here")], api: .v2), reading) {
                    chunk in
                    received.append(chunk.content)
                }
            }
            #expect(error?.code == .streamCut)
            #expect(reading.eventsBeforeACut(sent: 2).contains(received.count))
            #expect(emulator.counters.streamCalls == 1)
        }
        try await EmulatorHarness.run(emulator: .init(chunkCount: 4, faults: .init(malformedEventAt: 2))) {
            _,
            client,
            _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user("x y z")], api: .v2), reading) { _ in }
            }
            #expect(error?.code == .decoding)
        }
    }
}
