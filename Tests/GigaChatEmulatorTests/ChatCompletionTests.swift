import Foundation
import GigaChatEmulator
import Testing

@Suite("Chat completions", .timeLimit(.minutes(1)))
struct ChatCompletionTests {
    /// JSON string escaping as the real server writes it (UTF-8 kept, `\n` and quotes escaped).
    static func jsonString(_ text: String) -> String {
        var result = "\""
        for character in text.unicodeScalars {
            switch character {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            default: result.unicodeScalars.append(character)
            }
        }
        return result + "\""
    }

    @Test func answersDeterministicallyWithTheRecordedBodyShape() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "Привет, \"эмулятор\"!"
            let body = try EmulatorTestSupport.chatBody(
                model: "GigaChat-2-Max",
                messages: [("system", "Ты полезный ассистент"), ("user", prompt)]
            )
            let response = try await EmulatorTestSupport.chat(
                emulator,
                token: token,
                body: body,
                extraHeaders: [("X-Request-ID", "job-42"), ("X-Session-ID", "session-7")]
            )
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(response.header("X-Request-Id") == "job-42")
            #expect(response.header("X-Session-Id") == "session-7")
            #expect(!response.isChunked)

            let answer = GigaChatEmulator.answer(
                for: [(role: "system", content: "Ты полезный ассистент"), (role: "user", content: prompt)],
                model: "GigaChat-2-Max"
            )
            #expect(answer.hasPrefix("Echo: \(prompt)"))
            let created = try #require(try EmulatorTestSupport.object(response.text)["created"] as? Int)
            let promptTokens = 3 + 2
            let completionTokens = GigaChatEmulator.tokenCount(of: answer)
            let expected =
                "{\"choices\":[{\"message\":{\"content\":\(Self.jsonString(answer)),\"role\":\"assistant\"},"
                + "\"index\":0,\"finish_reason\":\"stop\"}],\"created\":\(created),"
                + "\"model\":\"GigaChat-2-Max:2.0.28.2\",\"object\":\"chat.completion\","
                + "\"usage\":{\"prompt_tokens\":\(promptTokens),\"completion_tokens\":\(completionTokens),"
                + "\"total_tokens\":\(promptTokens + completionTokens),\"precached_prompt_tokens\":0}}"
            #expect(response.text == expected)
            // Non-ASCII goes out as raw UTF-8, not \u escapes.
            #expect(!response.text.contains("\\u"))
            #expect(abs(created - Int(Date().timeIntervalSince1970)) < 60)
            #expect(emulator.counters.chatCalls == 1)
            #expect(emulator.counters.completedChats == 1)
        }
    }

    @Test func generatesRequestAndSessionIDsWhenNotGiven() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "Hello")])
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            let requestID = try #require(response.header("X-Request-Id"))
            let sessionID = try #require(response.header("X-Session-Id"))
            #expect(UUID(uuidString: requestID) != nil)
            #expect(UUID(uuidString: sessionID) != nil)
        }
    }

    @Test func streamsWithTheRecordedEventShape() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "Count from 1 to 3"
            let body = try EmulatorTestSupport.chatBody(messages: [("user", prompt)], stream: true)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "text/event-stream")
            #expect(response.header("Content-Length") == nil)
            #expect(response.isChunked)
            #expect(response.isComplete)
            #expect(response.header("X-Request-Id") != nil)

            let payloads = try EmulatorTestSupport.ssePayloads(response.body)
            let answer = GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat")
            let words = GigaChatEmulator.tokenCount(of: answer)
            // One content event per word, then the finish event, then [DONE].
            #expect(payloads.count == words + 2)
            #expect(payloads.last == "[DONE]")

            let events = try payloads.dropLast().map(EmulatorTestSupport.object)
            var content = ""
            for (index, event) in events.enumerated() {
                #expect(
                    EmulatorTestSupport.topLevelKeys(payloads[index]).prefix(4) == [
                        "choices", "created", "model", "object",
                    ]
                )
                #expect(event["object"] as? String == "chat.completion")
                #expect(event["model"] as? String == "GigaChat:2.0.28.2")
                #expect(event["id"] == nil)
                let choices = try #require(event["choices"] as? [[String: Any]])
                let choice = try #require(choices.first)
                #expect(choice["index"] as? Int == 0)
                let delta = try #require(choice["delta"] as? [String: Any])
                content += try #require(delta["content"] as? String)
                // role only in the first delta
                #expect((delta["role"] != nil) == (index == 0))
                let isPenultimate = index == events.count - 1
                // finish_reason and usage absent (not null) until the penultimate event
                #expect((choice["finish_reason"] != nil) == isPenultimate)
                #expect((event["usage"] != nil) == isPenultimate)
                if isPenultimate {
                    #expect(delta["content"] as? String == "")
                    #expect(delta.count == 1)
                    #expect(choice["finish_reason"] as? String == "stop")
                    let usage = try #require(event["usage"] as? [String: Int])
                    #expect(usage["prompt_tokens"] == 5)
                    #expect(usage["completion_tokens"] == words)
                    #expect(usage["total_tokens"] == 5 + words)
                    #expect(usage["precached_prompt_tokens"] == 0)
                }
            }
            #expect(content == answer)
            // Key order inside the penultimate choice as recorded: delta, index, finish_reason.
            let penultimate = payloads[payloads.count - 2]
            #expect(
                penultimate.hasPrefix(
                    "{\"choices\":[{\"delta\":{\"content\":\"\"},\"index\":0,\"finish_reason\":\"stop\"}],\"created\":"
                )
            )
            #expect(
                penultimate.hasSuffix(
                    ",\"model\":\"GigaChat:2.0.28.2\",\"object\":\"chat.completion\",\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":\(words),\"total_tokens\":\(5 + words),\"precached_prompt_tokens\":0}}"
                )
            )
            #expect(
                payloads[0].hasPrefix(
                    "{\"choices\":[{\"delta\":{\"content\":\"Echo: \",\"role\":\"assistant\"},\"index\":0}],\"created\":"
                )
            )
            #expect(emulator.counters.streamCalls == 1)
            #expect(emulator.counters.completedChats == 1)
        }
    }

    @Test func splitsStreamsIntoTheConfiguredNumberOfChunks() async throws {
        try await EmulatorTestSupport.withEmulator(.init(chunkCount: 3)) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "one two three four five six seven"
            let body = try EmulatorTestSupport.chatBody(messages: [("user", prompt)], stream: true)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            let payloads = try EmulatorTestSupport.ssePayloads(response.body)
            #expect(payloads.count == 3 + 2)
            let contents = try payloads.dropLast(2).map { payload -> String in
                let choice = try #require(
                    (try EmulatorTestSupport.object(payload)["choices"] as? [[String: Any]])?.first
                )
                return try #require((choice["delta"] as? [String: Any])?["content"] as? String)
            }
            #expect(
                contents.joined() == GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat")
            )
            #expect(contents.allSatisfy { !$0.isEmpty })
        }
    }

    @Test func flushesEachEventWhenItIsProduced() async throws {
        let delay = Duration.milliseconds(300)
        try await EmulatorTestSupport.withEmulator(.init(chunkDelay: delay, chunkCount: 4)) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "a b c d e f g h")], stream: true)
            // Its own event loop, so that load from tests running alongside cannot delay these reads.
            let exchange = try await EmulatorTestSupport.withOwnEventLoop { group in
                try await RawHTTPClient.exchange(
                    port: emulator.port,
                    group: group,
                    RawHTTPClient.request(
                        "POST",
                        "/api/v1/chat/completions",
                        headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                        body: body
                    )
                )
            }
            // 4 content events + finish + [DONE], 300 ms apart: the first event is on the wire 1.5 s before [DONE]
            // is written, so it arrives in an earlier read (unless this process stalls for that long).
            let text = String(decoding: exchange.bytes, as: UTF8.self)
            let firstEvent = try #require(text.utf8.indices(of: "data: ").first)
            let done = try #require(text.utf8.indices(of: "data: [DONE]").first)
            let firstRead = try #require(exchange.readTimes.last { $0.offset <= firstEvent })
            let doneRead = try #require(exchange.readTimes.last { $0.offset <= done })
            #expect(firstRead.offset < doneRead.offset)
            #expect(doneRead.instant - firstRead.instant >= delay)
        }
    }

    /// The prefix-cache lookups of one emulator: each call's `precached_prompt_tokens`.
    static func cachedTokens(_ configuration: GigaChatEmulatorConfiguration, _ calls: [(String, String, String?)])
        async throws -> [Int?]
    {
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            var results: [Int?] = []
            for (system, prompt, session) in calls {
                let body = try EmulatorTestSupport.chatBody(messages: [("system", system), ("user", prompt)])
                let response = try await EmulatorTestSupport.chat(
                    emulator,
                    token: token,
                    body: body,
                    extraHeaders: session.map { [("X-Session-ID", $0)] } ?? []
                )
                let usage = try EmulatorTestSupport.object(response.text)["usage"] as? [String: Any]
                results.append(usage?["precached_prompt_tokens"] as? Int)
            }
            #expect(emulator.counters.cachedPromptTokens == results.reduce(0) { $0 + ($1 ?? 0) })
            return results
        }
    }

    @Test func servesAPromptPrefixFromTheCachePerSession() async throws {
        let system = "Extract the invoice fields as JSON"  // 6 tokens
        let calls: [(String, String, String?)] = [
            (system, "first", "s1"),  // fills the cache
            (system, "second", "s1"),  // same session, same prefix: a hit
            (system, "third", "s2"),  // another session has its own cache
            ("Another system prompt", "x", "s1"),  // a new prefix misses
            (system, "x", nil),  // no session, no cache
            (system, "x", "s1"),  // s1 now holds the other prefix
            (system, "y", "s1"),  // and now this one again
        ]
        #expect(try await Self.cachedTokens(.init(), calls) == [0, 6, 0, 0, 0, 0, 6])
        // Past the TTL (here: at once) the prefix is gone.
        #expect(try await Self.cachedTokens(.init(prefixCacheTTL: .zero), Array(calls.prefix(2))) == [0, 0])
    }

    @Test func maxTokensTruncatesAndFinishesWithLength() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "Tell me a long story about the sea"
            let answer = GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat")
            let expected = GigaChatEmulator.truncated(answer, toTokens: 3)
            #expect(GigaChatEmulator.tokenCount(of: expected) == 3)

            let body = try EmulatorTestSupport.chatBody(messages: [("user", prompt)], extra: ["max_tokens": 3])
            let whole = try EmulatorTestSupport.object(
                try await EmulatorTestSupport.chat(emulator, token: token, body: body).text
            )
            let choice = try #require((whole["choices"] as? [[String: Any]])?.first)
            #expect(choice["finish_reason"] as? String == "length")
            #expect((choice["message"] as? [String: Any])?["content"] as? String == expected)
            #expect((whole["usage"] as? [String: Int])?["completion_tokens"] == 3)

            let streamBody = try EmulatorTestSupport.chatBody(
                messages: [("user", prompt)],
                stream: true,
                extra: ["max_tokens": 3]
            )
            let streamed = try await EmulatorTestSupport.chat(emulator, token: token, body: streamBody)
            let payloads = try EmulatorTestSupport.ssePayloads(streamed.body)
            #expect(payloads.count == 3 + 2)
            #expect(payloads[3].contains("\"finish_reason\":\"length\""))
        }
    }

    struct InvalidCase: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var status: Int
        var message: String
        var testDescription: String { name }
    }

    static let invalidCases: [InvalidCase] = [
        .init(
            name: "system message not first",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":"a"},{"role":"system","content":"b"}]}"#,
            status: 422,
            message: "Invalid params: system message must be the first message"
        ),
        .init(
            name: "unknown model",
            body: #"{"model":"NonExistentModel","messages":[{"role":"user","content":"Hello"}]}"#,
            status: 404,
            message: "No such model"
        ),
        .init(
            name: "embedder model for chat",
            body: #"{"model":"Embeddings","messages":[{"role":"user","content":"Hello"}]}"#,
            status: 404,
            message: "No such model"
        ),
        .init(
            name: "no model",
            body: #"{"messages":[{"role":"user","content":"Hello"}]}"#,
            status: 422,
            message: "Invalid params: model is required"
        ),
        .init(
            name: "empty messages",
            body: #"{"model":"GigaChat","messages":[]}"#,
            status: 422,
            message: "Invalid params: messages must not be empty"
        ),
        .init(
            name: "repetition_penalty zero",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":"a"}],"repetition_penalty":0}"#,
            status: 422,
            message: "Invalid params: repetition_penalty must be in range (0, +inf)"
        ),
        .init(
            name: "temperature zero",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":"a"}],"temperature":0}"#,
            status: 422,
            message: "Invalid params: temperature must be in range (0, +inf)"
        ),
        .init(
            name: "top_p above one",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":"a"}],"top_p":1.5}"#,
            status: 422,
            message: "Invalid params: top_p must be in range [0, 1]"
        ),
        .init(
            name: "max_tokens zero",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":"a"}],"max_tokens":0}"#,
            status: 422,
            message: "Invalid params: max_tokens must be a positive integer"
        ),
        .init(
            name: "unknown role",
            body: #"{"model":"GigaChat","messages":[{"role":"robot","content":"a"}]}"#,
            status: 422,
            message: "Invalid params: messages[0].role is not a known role"
        ),
    ]

    @Test(arguments: invalidCases)
    func rejectsInvalidRequestsWithAPIErrorShape(_ invalid: InvalidCase) async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: invalid.body)
            #expect(response.status == invalid.status)
            #expect(response.text == "{\"status\":\(invalid.status),\"message\":\"\(invalid.message)\"}\n")
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(emulator.counters.invalidRequests == 1)
            #expect(emulator.counters.currentConcurrentChats == 0)
        }
    }

    @Test func rejectsBodiesThatAreNotJSON() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: "{\"model\": ")
            #expect(response.status == 400)
            let json = try EmulatorTestSupport.object(response.text)
            #expect(json["status"] as? Int == 400)
            #expect((json["message"] as? String)?.hasPrefix("Invalid JSON") == true)
        }
    }

    static var weatherFunctions: [[String: Any]] {
        [
            [
                "name": "weather_forecast",
                "description": "Прогноз погоды",
                "parameters": [
                    "type": "object",
                    "properties": [
                        "location": ["type": "string", "description": "Город"]
                    ],
                    "required": ["location"],
                ],
            ]
        ]
    }

    @Test func callsAFunctionTheUserNames() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "weather_forecast для Москвы"
            let body = try EmulatorTestSupport.chatBody(
                messages: [("user", prompt)],
                extra: ["functions": Self.weatherFunctions]
            )
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(response.status == 200)
            #expect(
                response.text.hasPrefix(
                    "{\"choices\":[{\"message\":{\"content\":\"\",\"role\":\"assistant\",\"function_call\":{\"name\":\"weather_forecast\",\"arguments\":{\"location\":\(Self.jsonString(prompt))}},\"functions_state_id\":\""
                )
            )
            let json = try EmulatorTestSupport.object(response.text)
            let choice = try #require((json["choices"] as? [[String: Any]])?.first)
            #expect(choice["finish_reason"] as? String == "function_call")
            let message = try #require(choice["message"] as? [String: Any])
            let call = try #require(message["function_call"] as? [String: Any])
            // arguments is a JSON object, not a string
            #expect(call["arguments"] is [String: Any])
            let stateID = try #require(message["functions_state_id"] as? String)
            #expect(UUID(uuidString: stateID) != nil)

            // function_call "none" turns it off; a plain prompt gets text.
            let none = try EmulatorTestSupport.chatBody(
                messages: [("user", prompt)],
                extra: ["functions": Self.weatherFunctions, "function_call": "none"]
            )
            let text = try EmulatorTestSupport.object(
                try await EmulatorTestSupport.chat(emulator, token: token, body: none).text
            )
            #expect((text["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String == "stop")
        }
    }

    @Test func streamsAFunctionCall() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(
                messages: [("user", "Какая погода?")],
                stream: true,
                extra: ["functions": Self.weatherFunctions, "function_call": ["name": "weather_forecast"]]
            )
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            let payloads = try EmulatorTestSupport.ssePayloads(response.body)
            #expect(payloads.count == 3)
            let first = try #require(
                (try EmulatorTestSupport.object(payloads[0])["choices"] as? [[String: Any]])?.first
            )
            let delta = try #require(first["delta"] as? [String: Any])
            #expect((delta["function_call"] as? [String: Any])?["name"] as? String == "weather_forecast")
            #expect(payloads[1].contains("\"finish_reason\":\"function_call\""))
            #expect(payloads[2] == "[DONE]")
        }
    }

    @Test func forcedFunctionMustBeDeclared() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(
                messages: [("user", "hi")],
                extra: ["functions": Self.weatherFunctions, "function_call": ["name": "other"]]
            )
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(response.status == 422)
        }
    }

    @Test func servesSeveralRequestsOnOneKeepAliveConnection() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let headers = [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")]
            let stream = try EmulatorTestSupport.chatBody(messages: [("user", "first")], stream: true)
            let whole = try EmulatorTestSupport.chatBody(messages: [("user", "second")])
            let bytes =
                RawHTTPClient.request("POST", "/api/v1/chat/completions", headers: headers, body: stream, close: false)
                + RawHTTPClient.request("POST", "/api/v1/chat/completions", headers: headers, body: whole, close: true)
            let exchange = try await RawHTTPClient.exchange(port: emulator.port, bytes)
            let responses = RawHTTPClient.parse(exchange.bytes)
            #expect(responses.count == 2)
            #expect(responses.allSatisfy { $0.status == 200 && $0.isComplete })
            #expect(responses.first?.text.hasSuffix("data: [DONE]\n\n") == true)
            #expect(responses.last?.text.contains("Echo: second") == true)
        }
    }

    @Test func answers100ContinueBeforeTheBodyWhenAsked() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "continue")])
            let exchange = try await RawHTTPClient.exchange(
                port: emulator.port,
                RawHTTPClient.request(
                    "POST",
                    "/api/v1/chat/completions",
                    headers: [("Authorization", "Bearer \(token)"), ("Expect", "100-continue")],
                    body: body
                )
            )
            let responses = RawHTTPClient.parse(exchange.bytes)
            #expect(responses.map(\.status) == [100, 200])
            #expect(responses.last?.text.contains("Echo: continue") == true)
        }
    }

    @Test func streamsToHTTP10ClientsWithoutChunkedEncoding() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "old client")], stream: true)
            let exchange = try await RawHTTPClient.exchange(
                port: emulator.port,
                RawHTTPClient.request(
                    "POST",
                    "/api/v1/chat/completions",
                    headers: [("Authorization", "Bearer \(token)")],
                    body: body,
                    close: false,
                    version: "HTTP/1.0"
                )
            )
            let response = try #require(RawHTTPClient.parse(exchange.bytes).first)
            #expect(response.status == 200)
            #expect(!response.isChunked)
            #expect(try EmulatorTestSupport.ssePayloads(response.body).last == "[DONE]")
        }
    }
}
