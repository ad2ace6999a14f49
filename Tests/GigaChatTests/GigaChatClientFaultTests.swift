import Foundation
import GigaChatEmulator
import Logging
import Testing

@testable import GigaChat

@Suite("GigaChatClient faults, retries, secrets", .timeLimit(.minutes(1)))
struct GigaChatClientFaultTests {
    @Test(arguments: [400, 402, 403, 404, 413, 422, 429, 500, 503])
    func everyErrorStatusIsMapped(status: Int) async throws {
        try await EmulatorHarness.run(
            emulator: .init(faults: .init(failFirst: [status])),
            configure: { $0.retry.maxRetries = 0 }
        ) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error?.code == GigaChatError.code(forStatus: status))
            #expect(error?.httpStatus == status)
            #expect(error?.isRetriable == [429, 500, 503].contains(status))
            #expect(error?.message.isEmpty == false)
            #expect(emulator.counters.chatCalls == 1)
        }
    }

    @Test func repeated401RenewsOnceThenFails() async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [401, 401]))) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error?.code == .unauthorized)
            #expect(emulator.counters.oauthCalls == 2)
            #expect(emulator.counters.chatCalls == 2)
        }
    }

    @Test func oauthErrorsAreMappedAndCarryNoSecret() async throws {
        let (logger, logs) = RecordingLogHandler.logger()
        let goodKey = EmulatorHarness.freshCredentials()
        try await EmulatorHarness.run(
            emulator: .init(authorizationKeys: [goodKey]),
            logger: logger
        ) { emulator, client, configuration in
            let credentials = try #require(configuration.credentials)
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error?.code == .unauthorized || error?.code == .badRequest)
            #expect(error?.httpStatus == 401 || error?.httpStatus == 400)
            #expect(emulator.counters.chatCalls == 0)
            #expect(error.map { "\($0)".contains(credentials) } == false)
            #expect(!logs.all.contains(credentials))
        }
        // A scope the key is not bound to.
        try await EmulatorHarness.run(configure: { $0.scope = "GIGACHAT_API_NOPE" }) { _, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error.map { [400, 401, 403].contains($0.httpStatus ?? 0) } == true)
        }
    }

    @Test func secretsNeverReachErrorsOrLogs() async throws {
        let (logger, logs) = RecordingLogHandler.logger()
        try await EmulatorHarness.run(
            emulator: .init(faults: .init(failFirst: [500, 429, 401, 422])),
            logger: logger,
            configure: { $0.retry.maxRetries = 5 }
        ) { _, client, configuration in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error?.code == .unprocessable)
            let token = try await client.tokenProvider.token { _ in throw CancellationError() }.value
            let secrets = [try #require(configuration.credentials), token]
            let texts = [logs.all, "\(error!)", "\(configuration)", "\(client.configuration)"]
            for secret in secrets {
                for text in texts { #expect(!text.contains(secret)) }
            }
            #expect(logs.all.contains("retrying"))
        }
    }

    @Test func retryAfterIsHonoured() async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(retryAfter: 1, failFirst: [429]))) {
            emulator,
            client,
            _ in
            let clock = ContinuousClock()
            let start = clock.now
            let response = try await client.chat(ChatRequest(messages: [.user("x")]))
            let elapsed = clock.now - start
            #expect(response.content == EmulatorHarness.expectedAnswer("x"))
            #expect(elapsed >= .seconds(1))
            #expect(emulator.counters.chatCalls == 2)
        }
    }

    @Test(arguments: StreamReading.allCases) func retriesOn500And503ThenSucceeds(reading: StreamReading) async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [500, 503]))) { emulator, client, _ in
            let response = try await client.chat(ChatRequest(messages: [.user("x")]))
            #expect(response.content == EmulatorHarness.expectedAnswer("x"))
            #expect(emulator.counters.chatCalls == 3)
        }
        // Streams too: the failures come before any chunk.
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [503, 500]))) { emulator, client, _ in
            var text = ""
            try await client.readChunks(ChatRequest(messages: [.user("y")]), reading) { chunk in text += chunk.content }
            #expect(text == EmulatorHarness.expectedAnswer("y"))
            #expect(emulator.counters.streamCalls + emulator.counters.chatCalls >= 3)
        }
    }

    @Test func noRetryOn422() async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [422]))) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error?.code == .unprocessable)
            #expect(emulator.counters.chatCalls == 1)
        }
    }

    @Test func retriesStopAtMaxRetries() async throws {
        try await EmulatorHarness.run(
            emulator: .init(faults: .init(failFirst: [500, 500, 500, 500])),
            configure: { $0.retry.maxRetries = 2 }
        ) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.chat(ChatRequest(messages: [.user("x")]))
            }
            #expect(error?.code == .server)
            #expect(emulator.counters.chatCalls == 3)
        }
    }

    @Test(arguments: StreamReading.allCases) func streamCutBeforeOutputIsRetriedCutAfterOutputIsThrown(
        reading: StreamReading
    ) async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(cutStreamAfterEvents: 0))) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user("x")]), reading) { _ in }
            }
            #expect(error?.code == .streamCut)
            #expect(emulator.counters.streamCalls == 4)  // 1 + maxRetries (3)
        }
        // 200 ms between events, the cut included: AsyncHTTPClient can drop body bytes that arrive together with
        // the connection's close, so the close comes well after the last event (margin for a loaded machine).
        try await EmulatorHarness.run(
            emulator: .init(chunkDelay: .milliseconds(200), chunkCount: 6, faults: .init(cutStreamAfterEvents: 2))
        ) { emulator, client, _ in
            var received: [String] = []
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user("a longer prompt here")]), reading) { chunk in
                    received.append(chunk.content)
                }
            }
            #expect(error?.code == .streamCut)
            #expect(reading.eventsBeforeACut(sent: 2).contains(received.count))
            #expect(EmulatorHarness.expectedAnswer("a longer prompt here").hasPrefix(received.joined()))
            #expect(emulator.counters.streamCalls == 1)
        }
    }

    @Test(arguments: StreamReading.allCases) func malformedEventIsADecodingError(reading: StreamReading) async throws {
        try await EmulatorHarness.run(emulator: .init(chunkCount: 4, faults: .init(malformedEventAt: 2))) {
            _,
            client,
            _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user("x y z")]), reading) { _ in }
            }
            #expect(error?.code == .decoding)
        }
    }
}

@Suite("GigaChatClient deadlines", .timeLimit(.minutes(1)))
struct GigaChatClientDeadlineTests {
    @Test(arguments: StreamReading.allCases) func perCallDeadlineEndsASlowCallWithoutRetry(reading: StreamReading)
        async throws
    {
        try await EmulatorHarness.run(emulator: .init(timeToFirstToken: .seconds(3))) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user("x")]), deadline: .milliseconds(300), reading)
                { _ in }
            }
            #expect(error?.code == .timeout)
            #expect(error?.isRetriable == false)
            // No retry after the deadline: at most the one call (under load the deadline may pass before it is sent).
            #expect(emulator.counters.streamCalls <= 1)
            // A generous deadline does not cut a slow answer.
            _ = try await client.chat(ChatRequest(messages: [.user("x")]), deadline: .seconds(30))
        }
    }

    /// A prompt of `count` words; the emulator answers one event per word, so the stream has more than `count` chunks.
    static func prompt(words count: Int) -> String {
        (0..<count).map { "w\($0)" }.joined(separator: " ")
    }

    @Test(arguments: StreamReading.allCases) func streamWithAFarDeadlineCompletesOverManyChunks(reading: StreamReading)
        async throws
    {
        let prompt = Self.prompt(words: 300)
        // A small delay between events, so that most reads wait for data while the deadline's timer is armed.
        try await EmulatorHarness.run(emulator: .init(chunkDelay: .milliseconds(1))) {
            emulator,
            client,
            configuration in
            for _ in 0..<2 {
                var received: [String] = []
                try await client.readChunks(ChatRequest(messages: [.user(prompt)]), deadline: .seconds(600), reading) {
                    chunk in
                    received.append(chunk.content)
                }
                #expect(received.count > 300)
                #expect(received.joined() == EmulatorHarness.expectedAnswer(prompt))
            }
            #expect(emulator.counters.streamCalls == 2)
            #expect(emulator.counters.completedChats == 2)
            // The configured deadline (instead of the argument) works the same, for plain and streamed calls.
            var configured = configuration
            configured.timeouts.deadline = .seconds(600)
            let other = try GigaChatClient(configuration: configured)
            do {
                var received: [String] = []
                try await other.readChunks(ChatRequest(messages: [.user(prompt)]), reading) { chunk in
                    received.append(chunk.content)
                }
                #expect(received.joined() == EmulatorHarness.expectedAnswer(prompt))
                let answer = try await other.chat(ChatRequest(messages: [.user(prompt)]))
                #expect(answer.choices.first?.message.content == EmulatorHarness.expectedAnswer(prompt))
            } catch {
                try? await other.shutdown()
                throw error
            }
            try await other.shutdown()
        }
    }

    @Test(arguments: StreamReading.allCases) func deadlineEndsAStreamThatAlreadyDeliveredChunks(reading: StreamReading)
        async throws
    {
        let prompt = Self.prompt(words: 200)
        // About 20 s of events; the deadline passes after 5 s, in the middle of the stream.
        try await EmulatorHarness.run(emulator: .init(chunkDelay: .milliseconds(100))) { emulator, client, _ in
            var received: [String] = []
            let error = await #expect(throws: GigaChatError.self) {
                try await client.readChunks(ChatRequest(messages: [.user(prompt)]), deadline: .seconds(5), reading) {
                    chunk in
                    received.append(chunk.content)
                }
            }
            #expect(error?.code == .timeout)
            #expect(error?.isRetriable == false)
            #expect(!received.isEmpty)
            #expect(received.count < 200)
            #expect(EmulatorHarness.expectedAnswer(prompt).hasPrefix(received.joined()))
            #expect(emulator.counters.streamCalls == 1)
            #expect(emulator.counters.completedChats == 0)
        }
    }

    /// Only the `AsyncSequence` has a caller that can be busy between chunks (`onChunk` must not wait).
    @Test func deadlinePassingWhileTheCallerIsBusyEndsTheStream() async throws {
        let prompt = Self.prompt(words: 50)
        // About 7.5 s of events; the caller holds the first chunk past the 5 s deadline, so no read is in progress
        // when the deadline passes, and the next read throws. (Wide margins: the first chunk must arrive before the
        // deadline even on a loaded 2-core machine.)
        try await EmulatorHarness.run(emulator: .init(chunkDelay: .milliseconds(150))) { emulator, client, _ in
            var received: [String] = []
            let error = await #expect(throws: GigaChatError.self) {
                for try await chunk in client.stream(ChatRequest(messages: [.user(prompt)]), deadline: .seconds(5)) {
                    received.append(chunk.content)
                    if received.count == 1 { try await Task.sleep(for: .milliseconds(5500)) }
                }
            }
            #expect(error?.code == .timeout)
            #expect(error?.isRetriable == false)
            #expect(received.count >= 1)
            #expect(emulator.counters.streamCalls == 1)
        }
    }
}
