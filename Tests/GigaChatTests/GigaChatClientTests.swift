import Foundation
import GigaChatEmulator
import Logging
import Synchronization
import Testing

@testable import GigaChat

@Suite("GigaChatClient against the emulator", .timeLimit(.minutes(1)))
struct GigaChatClientTests {
    @Test func chatReturnsTheAnswerWithUsageAndRequestID() async throws {
        try await EmulatorHarness.run { emulator, client, _ in
            let response = try await client.chat(
                ChatRequest(messages: [.user("Hello there")]),
                headers: .init(requestID: "job-1", sessionID: "session-1")
            )
            #expect(response.content == EmulatorHarness.expectedAnswer("Hello there"))
            #expect(response.finishReason == .stop)
            #expect(response.model.hasPrefix("GigaChat"))
            let usage = try #require(response.usage)
            #expect(usage.completionTokens > 0)
            #expect(response.xRequestID == "job-1")
            #expect(response.xSessionID == "session-1")
            #expect(emulator.counters.oauthCalls == 1)
            #expect(emulator.counters.chatCalls == 1)
        }
    }

    @Test(arguments: StreamReading.allCases) func streamDeliversTheSameAnswerInChunks(reading: StreamReading)
        async throws
    {
        try await EmulatorHarness.run { emulator, client, _ in
            var chunks: [ChatChunk] = []
            try await client.readChunks(ChatRequest(messages: [.user("Tell me a story about streams")]), reading) {
                chunk in
                chunks.append(chunk)
            }
            #expect(chunks.count > 2)
            #expect(chunks.map(\.content).joined() == EmulatorHarness.expectedAnswer("Tell me a story about streams"))
            #expect(chunks.first?.choices.first?.delta.role == .assistant)
            #expect(chunks.last?.finishReason == .stop)
            #expect(chunks.last?.usage != nil)
            #expect(chunks.dropLast().allSatisfy { $0.usage == nil && $0.finishReason == nil })
            #expect(emulator.counters.streamCalls == 1)
        }
    }

    @Test func functionCallArgumentsAreAnObject() async throws {
        try await EmulatorHarness.run { _, client, _ in
            let function = ChatFunction(
                name: "weather_forecast",
                description: "Weather",
                parameters: ["type": "object", "properties": ["location": ["type": "string"]]]
            )
            let response = try await client.chat(
                ChatRequest(messages: [.user("Call weather_forecast for Kazan")], functions: [function])
            )
            #expect(response.finishReason == .functionCall)
            #expect(response.functionCall?.name == "weather_forecast")
            #expect(response.functionCall?.arguments?.objectValue != nil)
        }
    }

    @Test func thousandConcurrentRequestsCauseOneOAuthCall() async throws {
        try await EmulatorHarness.run(
            emulator: .init(faults: .init(oauthDelay: .milliseconds(200)))
        ) { emulator, client, _ in
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for index in 0..<1000 {
                    group.addTask { try await client.chat(ChatRequest(messages: [.user("q\(index % 7)")])).content }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(answers.count == 1000)
            #expect(emulator.counters.oauthCalls == 1)
            #expect(emulator.counters.chatCalls == 1000)
        }
    }

    @Test func twoClientsWithTheSameCredentialsShareOneToken() async throws {
        try await EmulatorHarness.run { emulator, client, configuration in
            let second = try GigaChatClient(configuration: configuration)
            _ = try await client.chat(ChatRequest(messages: [.user("a")]))
            _ = try await second.chat(ChatRequest(messages: [.user("b")]))
            try await second.shutdown()
            #expect(client.tokenProvider === second.tokenProvider)
            #expect(emulator.counters.oauthCalls == 1)
        }
    }

    @Test func tokenAboutToExpireIsRefreshedInTheBackground() async throws {
        // Token lives 8 s; the refresh window is min(6 s buffer, half the lifetime) = 4 s, so after 4.5 s the next
        // call still uses the valid token and starts one refresh beside it (margins for a loaded 2-core machine).
        try await EmulatorHarness.run(
            emulator: .init(tokenLifetime: .seconds(8)),
            configure: { $0.tokenExpiryBuffer = .seconds(6) }
        ) { emulator, client, _ in
            _ = try await client.chat(ChatRequest(messages: [.user("one")]))
            #expect(emulator.counters.oauthCalls == 1)
            try await Task.sleep(for: .milliseconds(4500))
            _ = try await client.chat(ChatRequest(messages: [.user("two")]))
            for _ in 0..<100 where emulator.counters.oauthCalls < 2 { try await Task.sleep(for: .milliseconds(10)) }
            #expect(emulator.counters.oauthCalls == 2)
            #expect(emulator.counters.rejectedExpired == 0)
            #expect(emulator.counters.rejectedUnauthorized == 0)
        }
    }

    @Test func aTokenCallThatHangsIsOutrunSoTheNextCallGetsAToken() async throws {
        // Defect: a token call that hung held the single refresh until the idle timeout, and every call without a
        // token waited out `timeouts.token` on it, again and again, until it ended.
        try await EmulatorHarness.run(
            emulator: .init(faults: .init(oauthDelay: .seconds(20))),
            configure: {
                $0.timeouts.token = .seconds(1)
                $0.retry.maxRetries = 0
            }
        ) { emulator, client, _ in
            do {
                _ = try await client.chat(ChatRequest(messages: [.user("first")]))
                Issue.record("answered without a token")
            } catch let error as GigaChatError {
                // The wait's own timeout: a retry can help (the worker's jobs retry it).
                #expect(error.code == .timeout && error.isRetriable, "\(error)")
            }
            var faults = emulator.faults
            faults.oauthDelay = .zero
            emulator.updateFaults(faults)
            // The hung call has run longer than a caller waits: the next caller starts another.
            let started = ContinuousClock.now
            var answered = false
            while !answered, ContinuousClock.now - started < .seconds(6) {
                answered = (try? await client.chat(ChatRequest(messages: [.user("again")]))) != nil
            }
            #expect(answered, "no answer within 6 s: the next token call waited for the hung one")
            // The hung call and the one that outran it; on a loaded machine an outrunning call can itself take
            // longer than the 1 s a caller waits, and the next caller outruns it too (a third call, seen once in a
            // full unit run; a fourth would need that twice).
            #expect((2...4).contains(emulator.counters.oauthCalls), "\(emulator.counters.oauthCalls) token calls")
        }
    }

    @Test func expiredTokenMidRunCostsOneRetryNotAFailure() async throws {
        // The emulator reports tokens as living an hour longer than they do (a skewed clock), so the server's
        // 401 "Token has expired" is what renews it: 20 concurrent calls then cost one extra OAuth call. (Tokens
        // live 4 s: with 2 s, a loaded machine once took so long over the 20 calls that the renewed token expired
        // too, and a third OAuth call came.)
        var emulator = GigaChatEmulatorConfiguration(tokenLifetime: .seconds(4))
        emulator.faults.tokenExpiryReportedLate = .seconds(3600)
        try await EmulatorHarness.run(emulator: emulator) { emulator, client, _ in
            _ = try await client.chat(ChatRequest(messages: [.user("before")]))
            try await Task.sleep(for: .milliseconds(4500))
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 {
                    group.addTask { try await client.chat(ChatRequest(messages: [.user("after")])).content }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0 == EmulatorHarness.expectedAnswer("after") })
            #expect(emulator.counters.oauthCalls == 2)
            #expect(emulator.counters.rejectedExpired >= 1)
        }
    }

    @Test func preIssuedTokenFallsBackToCredentialsWhenRejected() async throws {
        try await EmulatorHarness.run(configure: { $0.accessToken = "not-a-valid-token" }) { emulator, client, _ in
            let response = try await client.chat(ChatRequest(messages: [.user("hi")]))
            #expect(response.content == EmulatorHarness.expectedAnswer("hi"))
            #expect(emulator.counters.oauthCalls == 1)
            #expect(emulator.counters.rejectedUnauthorized + emulator.counters.rejectedExpired == 1)
        }
    }

    @Test func userAndPasswordUseTheTokenEndpoint() async throws {
        try await EmulatorHarness.run(
            emulator: .init(users: ["alice": "wonder-pass"]),
            configure: {
                $0.credentials = nil
                $0.user = "alice"
                $0.password = "wonder-pass"
            }
        ) { emulator, client, _ in
            _ = try await client.chat(ChatRequest(messages: [.user("x")]))
            _ = try await client.chat(ChatRequest(messages: [.user("y")]))
            #expect(emulator.counters.passwordTokenCalls == 1)
            #expect(emulator.counters.oauthCalls == 0)
        }
    }

    @Test func otherEndpoints() async throws {
        try await EmulatorHarness.run { _, client, _ in
            let models = try await client.models()
            #expect(models.map(\.id) == GigaChatEmulatorConfiguration.defaultModels)
            #expect(try await client.model("GigaChat-2-Max").id == "GigaChat-2-Max")
            let missing = await #expect(throws: GigaChatError.self) { try await client.model("No-Such-Model") }
            #expect(missing?.code == .notFound)
            #expect(missing?.httpStatus == 404)
            let counts = try await client.countTokens(["one two three", "four"])
            #expect(
                counts.map(\.tokens) == [
                    GigaChatEmulator.tokenCount(of: "one two three"), GigaChatEmulator.tokenCount(of: "four"),
                ]
            )
            let embeddings = try await client.embeddings(["a", "b"])
            #expect(embeddings.data.map(\.index) == [0, 1])
            #expect(embeddings.data.allSatisfy { !$0.embedding.isEmpty })
            let balance = try await client.balance()
            #expect(!balance.isEmpty)
        }
    }
}

/// Iterating a stream from an actor (as the worker does) must compile under strict concurrency and work.
actor StreamCollector {
    var text = ""

    func collect(_ stream: ChatStream) async throws -> String {
        for try await chunk in stream { self.text += chunk.content }
        return self.text
    }
}

@Suite("ChatStream from an actor", .timeLimit(.minutes(1)))
struct ChatStreamActorTests {
    @Test func actorCanConsumeAStream() async throws {
        try await EmulatorHarness.run { _, client, _ in
            let text = try await StreamCollector().collect(
                client.stream(ChatRequest(messages: [.user("from an actor")]))
            )
            #expect(text == EmulatorHarness.expectedAnswer("from an actor"))
        }
    }
}
