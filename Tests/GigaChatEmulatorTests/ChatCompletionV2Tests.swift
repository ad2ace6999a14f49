import Foundation
import GigaChatEmulator
import Testing

/// `POST /api/v2/chat/completions` on the wire: the shapes of the SDK 0.2.3's recorded v2 traffic.
@Suite("Chat completions v2", .timeLimit(.minutes(1)))
struct ChatCompletionV2Tests {
    static let path = "/api/v2/chat/completions"

    static func body(_ prompt: String, system: String? = nil, extra: String = "") -> String {
        var messages: [String] = []
        if let system {
            messages.append(#"{"role":"system","content":[{"text":\#(ChatCompletionTests.jsonString(system))}]}"#)
        }
        messages.append(#"{"role":"user","content":[{"text":\#(ChatCompletionTests.jsonString(prompt))}]}"#)
        return #"{"model":"GigaChat-2-Max","messages":[\#(messages.joined(separator: ","))]\#(extra)}"#
    }

    @Test func answersWithTheRecordedV2Shape() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "Say hello"
            let response = try await EmulatorTestSupport.post(
                emulator,
                token: token,
                Self.path,
                body: Self.body(prompt, system: "Be kind")
            )
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            let answer = GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat-2-Max")
            let object = try EmulatorTestSupport.object(response.text)
            let created = try #require(object["created_at"] as? Int)
            let output = GigaChatEmulator.tokenCount(of: answer)
            let expected =
                "{\"model\":\"GigaChat-2-Max:2.0.28.2\",\"created_at\":\(created),"
                + "\"messages\":[{\"role\":\"assistant\",\"content\":[{\"text\":\(ChatCompletionTests.jsonString(answer))}]}],"
                + "\"finish_reason\":\"stop\",\"usage\":{\"input_tokens\":4,\"input_tokens_details\":{\"prompt_tokens\":4,"
                + "\"cached_tokens\":0},\"output_tokens\":\(output),\"total_tokens\":\(4 + output)}}"
            #expect(response.text == expected)
            #expect(emulator.counters.chatCalls == 1)
        }
    }

    @Test func streamsNamedEventsWithoutDone() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = "Count from 1 to 3"
            let response = try await EmulatorTestSupport.post(
                emulator,
                token: token,
                Self.path,
                body: Self.body(prompt, extra: #","stream":true"#)
            )
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "text/event-stream")
            let text = String(decoding: response.body, as: UTF8.self)
            #expect(text.hasSuffix("\n\n") && !text.contains("[DONE]"))
            let events = text.dropLast(2).components(separatedBy: "\n\n").map { $0.components(separatedBy: "\n") }
            #expect(events.allSatisfy { $0.count == 2 && $0[0].hasPrefix("event: ") && $0[1].hasPrefix("data: ") })
            let names = events.map { String($0[0].dropFirst(7)) }
            #expect(names.dropLast().allSatisfy { $0 == "response.message.delta" })
            #expect(names.last == "response.message.done")
            let payloads = try events.map { try EmulatorTestSupport.object(String($0[1].dropFirst(6))) }
            var content = ""
            for (index, payload) in payloads.dropLast().enumerated() {
                let message = try #require((payload["messages"] as? [[String: Any]])?.first)
                #expect((message["role"] as? String == "assistant") == (index == 0), "role only in the first delta")
                for part in message["content"] as? [[String: Any]] ?? [] { content += part["text"] as? String ?? "" }
                #expect(payload["usage"] == nil && payload["finish_reason"] == nil)
            }
            let answer = GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat-2-Max")
            #expect(content == answer)
            let done = try #require(payloads.last)
            #expect(done["finish_reason"] as? String == "stop")
            #expect(done["messages"] == nil)
            let usage = try #require(done["usage"] as? [String: Any])
            #expect(usage["output_tokens"] as? Int == GigaChatEmulator.tokenCount(of: answer))
            #expect(usage["input_tokens"] as? Int == 5)
        }
    }

    @Test func answersAJSONSchemaWithAValueThatSatisfiesIt() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            // A pydantic-style schema: a nested model behind $ref, bounds, an enum, an optional list.
            let schema = #"""
                {"type":"object","required":["name","age","kind","address"],"$defs":{"Address":{"type":"object",
                "properties":{"city":{"type":"string","minLength":12},"zip":{"type":"string","maxLength":3}}}},
                "properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":18,"maximum":99},
                "kind":{"enum":["person","company"]},"address":{"$ref":"#/$defs/Address"},
                "tags":{"anyOf":[{"type":"array","items":{"type":"string"},"minItems":2},{"type":"null"}]},
                "score":{"type":"number","exclusiveMinimum":0.5},"ok":{"type":["boolean","null"]}}}
                """#
            let expected =
                #"{"name": "Extract", "age": 18, "kind": "person", "address": {"city": "Extractxxxxx", "zip": "Ext"}, "#
                + #""tags": ["Extract", "Extract"], "score": 1.5, "ok": true}"#
            #expect(GigaChatEmulator.structuredAnswer(schemaJSON: schema, prompt: "Extract the fields") == expected)
            let response = try await EmulatorTestSupport.post(
                emulator,
                token: token,
                Self.path,
                body: Self.body(
                    "Extract the fields",
                    extra:
                        #","model_options":{"response_format":{"type":"json_schema","schema":\#(schema),"strict":true}}"#
                )
            )
            #expect(response.status == 200, "\(response.text)")
            let message = try #require(
                (try EmulatorTestSupport.object(response.text)["messages"] as? [[String: Any]])?.first
            )
            let parts = try #require(message["content"] as? [[String: Any]])
            #expect(parts.first?["text"] as? String == expected)
        }
    }

    struct InvalidCase: Sendable, CustomTestStringConvertible {
        var name: String
        var body: String
        var message: String
        var testDescription: String { name }
    }

    static let invalidCases: [InvalidCase] = [
        .init(
            name: "content as a plain string",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":"a"}]}"#,
            message: "messages[0].content must be an array of content parts"
        ),
        .init(
            name: "a part that is not an object",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":["a"]}]}"#,
            message: "messages[0].content[0] must be an object"
        ),
        .init(
            name: "files without ids",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":[{"files":[{"mime":"a"}]}]}]}"#,
            message: "messages[0].content[0].files must be [{\"id\": \"...\"}]"
        ),
        .init(
            name: "model_options not an object",
            body: #"{"model":"GigaChat","messages":[{"role":"user","content":[{"text":"a"}]}],"model_options":3}"#,
            message: "model_options must be an object"
        ),
        .init(
            name: "temperature zero in model_options",
            body:
                #"{"model":"GigaChat","messages":[{"role":"user","content":[{"text":"a"}]}],"model_options":{"temperature":0}}"#,
            message: "model_options.temperature must be in range (0, +inf)"
        ),
        .init(
            name: "unknown response_format type",
            body:
                #"{"model":"GigaChat","messages":[{"role":"user","content":[{"text":"a"}]}],"model_options":{"response_format":{"type":"xml"}}}"#,
            message: "model_options.response_format.type must be text, json_schema or regex"
        ),
        .init(
            name: "json_schema without a schema",
            body:
                #"{"model":"GigaChat","messages":[{"role":"user","content":[{"text":"a"}]}],"model_options":{"response_format":{"type":"json_schema"}}}"#,
            message: "model_options.response_format.schema must be a JSON Schema object"
        ),
        .init(
            name: "forced function that is not a tool",
            body:
                #"{"model":"GigaChat","messages":[{"role":"user","content":[{"text":"a"}]}],"tool_config":{"mode":"forced","function_name":"f"}}"#,
            message: "tool_config.function_name names a function that is not in tools"
        ),
        .init(
            name: "v1's function role",
            body: #"{"model":"GigaChat","messages":[{"role":"function","content":[{"text":"{}"}]}]}"#,
            message: "messages[0].role is not a known role"
        ),
        .init(
            name: "tool message without the call's state id",
            body:
                #"{"model":"GigaChat","messages":[{"role":"tool","content":[{"function_result":{"name":"f","result":{}}}]}]}"#,
            message: "messages[0].tools_state_id is required for a tool message"
        ),
        .init(
            name: "tool result without a name",
            body:
                #"{"model":"GigaChat","messages":[{"role":"tool","tools_state_id":"s","content":[{"function_result":{"name":"","result":{}}}]}]}"#,
            message: "messages[0].content must hold a function_result with a name"
        ),
        .init(
            name: "unknown tool mode",
            body:
                #"{"model":"GigaChat","messages":[{"role":"user","content":[{"text":"a"}]}],"tool_config":{"mode":"always"}}"#,
            message: "tool_config.mode must be auto, none or forced"
        ),
    ]

    @Test(arguments: invalidCases)
    func rejectsInvalidV2Requests(_ invalid: InvalidCase) async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let response = try await EmulatorTestSupport.post(emulator, token: token, Self.path, body: invalid.body)
            #expect(response.status == 422)
            let message = try #require(try EmulatorTestSupport.object(response.text)["message"] as? String)
            #expect(message == "Invalid params: \(invalid.message)")
            #expect(emulator.counters.invalidRequests == 1)
        }
    }

    @Test func answersARegexFormatWithTextItMatches() async throws {
        #expect(GigaChatEmulator.regexSample(#"[A-Z]{3}-\d{4}"#) == "AAA-0000")
        #expect(GigaChatEmulator.regexSample(#"^(yes|no)$"#) == "yes")
        #expect(GigaChatEmulator.regexSample(#"[^0-9]+\.(?:txt|pdf)?"#) == "x.")
        #expect(GigaChatEmulator.regexSample(#"(?=a)b"#) == nil)
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let response = try await EmulatorTestSupport.post(
                emulator,
                token: token,
                Self.path,
                body: Self.body(
                    "Generate one support ticket code.",
                    extra: #","model_options":{"response_format":{"type":"regex","regex":"[A-Z]{3}-\\d{4}"}}"#
                )
            )
            #expect(response.status == 200, "\(response.text)")
            #expect(response.text.contains(#"[{"text":"AAA-0000"}]"#))
        }
    }

    @Test func regexFormatIsV2Only() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let v1 = try await EmulatorTestSupport.chat(
                emulator,
                token: token,
                body:
                    #"{"model":"GigaChat","messages":[{"role":"user","content":"a"}],"response_format":{"type":"regex","regex":"[A-Z]{3}"}}"#
            )
            #expect(v1.status == 422)
            #expect(v1.text.contains("response_format.type must be text or json_schema"))
        }
    }
}
