import Foundation
import GigaChatEmulator
import Synchronization
import Testing

@testable import GigaChat

/// What only the callback way of reading a stream (``GigaChatClient/stream(_:headers:deadline:onChunk:)``) has to
/// show; the behaviour both ways share is tested with both (``StreamReading``).
@Suite("GigaChatClient streams read by callbacks", .timeLimit(.minutes(1)))
struct ChatStreamCallbackTests {
    /// The streams' pool has no AsyncHTTPClient read timeout: the delegate's own idle timer must also end a call
    /// whose answer never starts, retriably, as AsyncHTTPClient's did.
    @Test func aStreamWhoseHeadNeverComesEndsAtTheIdleTimeout() async throws {
        // The server reads the request, then sends nothing for 8 s.
        let server = try TestScriptedHTTPServer(pieces: [[]], pause: .seconds(8))
        defer { server.stop() }
        let client = try GigaChatTransportTests.scriptedClient(server) { $0.timeouts.idle = .milliseconds(500) }
        let start = ContinuousClock.now
        let error = await #expect(throws: GigaChatError.self) {
            try await client.stream(ChatRequest(messages: [.user("x")])) { _ in }
        }
        let ended = ContinuousClock.now - start
        try await client.shutdown()
        #expect(error?.code == .timeout)
        #expect(error?.isRetriable == true)
        // Not a speed check: the call was ended by the idle timer, not by the server's close after 8 s (a bound
        // well short of that: once, in a full parallel run, the timer fired 2.5 s late, past a 2.5 s bound).
        #expect(ended < .seconds(5))
    }

    /// The answer is in at `[DONE]`, but a body the server then leaves open must not hold its connection for ever:
    /// the idle timeout still covers what follows the end marker.
    @Test func aBodyLeftOpenAfterTheEndMarkerIsClosedAtTheIdleTimeout() async throws {
        let response = try GigaChatTransportTests.recordedStreamResponse()
        let closedAfter = Mutex<Duration?>(nil)
        let server = try TestTCPServer { client in
            guard TestTCPServer.readHead(client) != nil, TestTCPServer.sendAll(client, response) else { return }
            // No terminating chunk: wait (5 s at most) for the client to close the connection.
            let sent = ContinuousClock.now
            var timeout = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var byte: UInt8 = 0
            var received = 1
            while received > 0 { received = recv(client, &byte, 1, 0) }
            if received == 0 { closedAfter.withLock { $0 = ContinuousClock.now - sent } }
            close(client)
        }
        defer { server.stop() }
        var configuration = GigaChatConfiguration(
            baseURL: "http://127.0.0.1:\(server.port)/api/v1",
            accessToken: "pre-issued"
        )
        configuration.retry.maxRetries = 0
        configuration.timeouts.idle = .milliseconds(500)
        let client = try GigaChatClient(configuration: configuration)
        let chunks = Mutex(0)
        try await client.stream(ChatRequest(messages: [.user("x")])) { _ in chunks.withLock { $0 += 1 } }
        let deadline = ContinuousClock.now + .seconds(6)
        while closedAfter.withLock({ $0 }) == nil, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        try await client.shutdown()
        #expect(chunks.withLock { $0 } > 0)
        let closed = closedAfter.withLock { $0 }
        #expect(closed != nil, "the connection was still open 5 s after the answer")
        #expect((closed ?? .seconds(9)) < .seconds(4))
    }

    @Test func cancellingTheCallerEndsTheCallWithoutAnotherChunk() async throws {
        // About 20 s of events, 100 ms apart.
        try await EmulatorHarness.run(emulator: .init(chunkDelay: .milliseconds(100))) { emulator, client, _ in
            let received = Mutex(0)
            let call = Task {
                try await client.stream(ChatRequest(messages: [.user(GigaChatClientDeadlineTests.prompt(words: 200))]))
                {
                    _ in received.withLock { $0 += 1 }
                }
            }
            while received.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(10)) }
            let cancelled = ContinuousClock.now
            call.cancel()
            let result = await call.result
            let ended = ContinuousClock.now - cancelled
            let atEnd = received.withLock { $0 }
            #expect(throws: GigaChatError.self) { try result.get() }
            #expect((result.failure as? GigaChatError)?.code == .cancelled)
            #expect(ended < .seconds(5), "not held until the stream's end")
            try await Task.sleep(for: .milliseconds(300))
            #expect(received.withLock { $0 } == atEnd, "no chunk after the call ended")
            #expect(emulator.counters.completedChats == 0)
        }
    }

    @Test func a401IsRenewedOnceBeforeTheStream() async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [401]))) { emulator, client, _ in
            let text = Mutex("")
            try await client.stream(ChatRequest(messages: [.user("renewed")])) { chunk in
                text.withLock { $0 += chunk.content }
            }
            #expect(text.withLock { $0 } == EmulatorHarness.expectedAnswer("renewed"))
            #expect(emulator.counters.oauthCalls == 2)
        }
    }

    @Test func anErrorStatusIsRetriedOnlyWhenRetriableAndCarriesTheServersMessage() async throws {
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [429]))) { emulator, client, _ in
            let text = Mutex("")
            try await client.stream(ChatRequest(messages: [.user("after 429")])) { chunk in
                text.withLock { $0 += chunk.content }
            }
            #expect(text.withLock { $0 } == EmulatorHarness.expectedAnswer("after 429"))
            #expect(emulator.counters.streamCalls == 2)
        }
        try await EmulatorHarness.run(emulator: .init(faults: .init(failFirst: [422]))) { emulator, client, _ in
            let error = await #expect(throws: GigaChatError.self) {
                try await client.stream(ChatRequest(messages: [.user("x")])) { _ in }
            }
            #expect(error?.httpStatus == 422)
            #expect(error?.code == GigaChatError.code(forStatus: 422))
            #expect(error?.isRetriable == false)
            #expect(error?.message != "Unprocessable Entity", "the emulator's own message, not the reason phrase")
            #expect(emulator.counters.streamCalls == 1)
        }
    }
}

extension Result {
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
