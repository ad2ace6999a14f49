import Foundation
import GigaChatEmulator
import Testing

@Suite("Many concurrent connections", .timeLimit(.minutes(1)))
struct LoadTests {
    /// The benchmark pushes 1,000 concurrent streams through one client; the emulator must keep them all open at
    /// once and finish every one. (Speed is measured by the benchmark, not asserted here.)
    @Test func servesAThousandConcurrentStreams() async throws {
        let streams = 1000
        let configuration = GigaChatEmulatorConfiguration(
            timeToFirstToken: .milliseconds(300),
            chunkDelay: .milliseconds(20),
            chunkCount: 8
        )
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let port = emulator.port
            let prompt = "stream under load"
            let expected = GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: "GigaChat")
            let body = try EmulatorTestSupport.chatBody(messages: [("user", prompt)], stream: true)
            let request = RawHTTPClient.request(
                "POST",
                "/api/v1/chat/completions",
                headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                body: body
            )
            let started = ContinuousClock.now
            let intact = try await EmulatorTestSupport.withOwnEventLoop { clientGroup in
                try await withThrowingTaskGroup(of: Bool.self) { group in
                    for _ in 0..<streams {
                        group.addTask {
                            let exchange = try await RawHTTPClient.exchange(port: port, group: clientGroup, request)
                            guard let response = RawHTTPClient.parse(exchange.bytes).first, response.isComplete else {
                                return false
                            }
                            let payloads = try EmulatorTestSupport.ssePayloads(response.body)
                            let content = try payloads.dropLast(2).map { payload -> String in
                                let choices = try EmulatorTestSupport.object(payload)["choices"] as? [[String: Any]]
                                return (choices?.first?["delta"] as? [String: Any])?["content"] as? String ?? ""
                            }
                            return payloads.count == 10 && content.joined() == expected
                        }
                    }
                    var count = 0
                    for try await ok in group where ok { count += 1 }
                    return count
                }
            }
            let elapsed = ContinuousClock.now - started
            let counters = emulator.counters
            #expect(intact == streams)
            #expect(counters.completedChats == streams)
            #expect(counters.currentConcurrentChats == 0)
            // Streams last at least 300 ms + 9 x 20 ms, so they overlap widely.
            #expect(counters.maxConcurrentChats > streams / 10)
            print("[load] \(streams) streams in \(elapsed), peak concurrency \(counters.maxConcurrentChats)")
        }
    }
}
