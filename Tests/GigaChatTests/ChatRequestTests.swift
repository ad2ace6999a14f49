import Foundation
import Testing

@testable import GigaChat

@Suite("Chat request and response models")
struct ChatRequestTests {
    static func object(_ value: some Encodable) throws -> [String: JSONValue] {
        try #require(JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value)).objectValue)
    }

    @Test func encodesEveryParameterWithWireNames() throws {
        var request = ChatRequest(
            model: "GigaChat-2-Max",
            messages: [
                .system("Be brief."),
                ChatMessage(role: .user, content: "Hi", attachments: ["file-1"]),
                ChatMessage(
                    role: .assistant,
                    content: "",
                    functionCall: ChatFunctionCall(name: "f", arguments: ["x": 1]),
                    functionsStateID: "state-1"
                ),
                ChatMessage(role: .function, content: "{\"ok\":true}", name: "f"),
            ],
            temperature: 0.2,
            topP: 0.9,
            n: 1,
            maxTokens: 512,
            repetitionPenalty: 1.1,
            updateInterval: 0.5,
            functions: [ChatFunction(name: "f", description: "does f", parameters: ["type": "object"])],
            functionCall: .function("f"),
            profanityCheck: false,
            flags: ["x"],
            extraParameters: ["reasoning_effort": "low", "temperature": 9]
        )
        request.stream = true
        let json = try Self.object(request)
        #expect(json["model"] == "GigaChat-2-Max")
        #expect(json["temperature"] == 0.2)  // the typed field wins over the extra parameter
        #expect(json["top_p"] == 0.9)
        #expect(json["n"] == 1)
        #expect(json["stream"] == true)
        #expect(json["max_tokens"] == 512)
        #expect(json["repetition_penalty"] == 1.1)
        #expect(json["update_interval"] == 0.5)
        #expect(json["function_call"] == ["name": "f"])
        #expect(json["profanity_check"] == false)
        #expect(json["flags"] == ["x"])
        #expect(json["reasoning_effort"] == "low")
        // An extra parameter named like an unset typed field is sent.
        let extraOnly = try Self.object(ChatRequest(messages: [.user("x")], extraParameters: ["top_p": 0.5]))
        #expect(extraOnly["top_p"] == 0.5)
        #expect(json["functions"]?.arrayValue?.first?["parameters"] == ["type": "object"])
        let messages = try #require(json["messages"]?.arrayValue)
        #expect(messages[1]["attachments"] == ["file-1"])
        #expect(messages[2]["function_call"] == ["name": "f", "arguments": ["x": 1]])
        #expect(messages[2]["functions_state_id"] == "state-1")
        #expect(messages[3]["name"] == "f")
        // Integral numbers go out as integers.
        let text = String(decoding: try JSONEncoder().encode(request), as: UTF8.self)
        #expect(text.contains("\"max_tokens\":512"))
    }

    @Test func buildsFromRawOptions() throws {
        let options: [String: JSONValue] = [
            "temperature": 0.3, "max_tokens": 100, "function_call": "auto", "update_interval": 1,
            "profanity_check": true, "response_format": ["type": "json_object"], "model": "ignored-if-given",
        ]
        let request = try ChatRequest(model: "GigaChat-2", messages: [.user("x")], options: options)
        #expect(request.model == "GigaChat-2")
        #expect(request.temperature == 0.3)
        #expect(request.maxTokens == 100)
        #expect(request.functionCall == .auto)
        #expect(request.updateInterval == 1)
        #expect(request.profanityCheck == true)
        #expect(request.extraParameters == ["response_format": ["type": "json_object"]])
        #expect(request.messages == [.user("x")])
        let fromOptions = try ChatRequest(messages: [.user("x")], options: ["model": "GigaChat-2-Pro"])
        #expect(fromOptions.model == "GigaChat-2-Pro")

        let error = #expect(throws: GigaChatError.self) {
            try ChatRequest(messages: [.user("x")], options: ["max_tokens": "many"])
        }
        #expect(error?.code == .badRequest)
        #expect(error?.message.contains("max_tokens") == true)
    }

    @Test func decodesResponsesFromFixtures() throws {
        let plain = try JSONDecoder().decode(ChatResponse.self, from: Data(Fixtures.bytes("chat_response.json")))
        let raw = try JSONSerialization.jsonObject(with: Data(Fixtures.bytes("chat_response.json"))) as! [String: Any]
        #expect(plain.model == raw["model"] as? String)
        #expect(plain.finishReason == .stop)
        let rawUsage = raw["usage"] as! [String: Int]
        #expect(plain.usage?.precachedPromptTokens == rawUsage["precached_prompt_tokens"])
        #expect(plain.usage?.totalTokens == rawUsage["total_tokens"])

        let call = try JSONDecoder().decode(
            ChatResponse.self,
            from: Data(Fixtures.bytes("function_call_response.json"))
        )
        #expect(call.finishReason == .functionCall)
        #expect(call.functionCall?.name == "weather_forecast")
        #expect(call.functionCall?.arguments?["num_days"]?.intValue == 3)
        #expect(call.functionCall?.arguments?["location"]?.stringValue == "Казань")
        #expect(call.choices.first?.message.functionsStateID != nil)
    }

    @Test func functionCallArgumentsGivenAsStringAreParsed() throws {
        let json = #"{"name":"f","arguments":"{\"a\":[1,2]}"}"#
        let call = try JSONDecoder().decode(ChatFunctionCall.self, from: Data(json.utf8))
        #expect(call.arguments == ["a": [1, 2]])
    }

    @Test func jsonValueRoundTrips() throws {
        let value: JSONValue = ["a": [1, 2.5, "x", true, nil], "b": ["c": "ж"]]
        let decoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(decoded == value)
    }
}
