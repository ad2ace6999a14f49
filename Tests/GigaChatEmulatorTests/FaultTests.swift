import Foundation
import GigaChatEmulator
import Testing

@Suite("Fault injection", .timeLimit(.minutes(1)))
struct FaultTests {
    /// Polls (bounded, 10 s) until `condition` holds.
    static func waitUntil(_ condition: () -> Bool) async throws {
        var waited = 0
        while !condition(), waited < 2000 {
            try await Task.sleep(for: .milliseconds(5))
            waited += 1
        }
    }

    @Test func concurrencyLimitAnswers429WhileASlotIsTaken() async throws {
        let faults = GigaChatEmulatorFaults(concurrencyLimitPerToken: 1, retryAfter: 2)
        // One event per word, 250 ms apart: the 120-word prompt's stream holds the slot for over 30 s (until the
        // test hangs up; margin for a loaded machine), while the one-token answers (max_tokens 1) of the other
        // calls take 0.5 s.
        let configuration = GigaChatEmulatorConfiguration(chunkDelay: .milliseconds(250), faults: faults)
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let prompt = (1...120).map(String.init).joined(separator: " ")
            let streamBody = try EmulatorTestSupport.chatBody(messages: [("user", prompt)], stream: true)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "second")], extra: ["max_tokens": 1])
            let held = try await RawHTTPClient.hold(
                port: emulator.port,
                RawHTTPClient.request(
                    "POST",
                    "/api/v1/chat/completions",
                    headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                    body: streamBody
                )
            )
            try await Self.waitUntil { emulator.counters.currentConcurrentChats == 1 }
            #expect(emulator.counters.currentConcurrentChats == 1)
            let rejected = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(rejected.status == 429)
            #expect(rejected.text == "{\"status\":429,\"message\":\"Too many requests\"}\n")
            #expect(rejected.header("Retry-After") == "2")

            // Another account (scope) has its own budget.
            let otherToken = try await EmulatorTestSupport.token(emulator, scope: "GIGACHAT_API_B2B")
            let other = try await EmulatorTestSupport.chat(emulator, token: otherToken, body: body)
            #expect(other.status == 200)

            // Hanging up mid-stream gives the slot back.
            try await held.close()
            try await Self.waitUntil { emulator.counters.currentConcurrentChats == 0 }
            let after = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(after.status == 200)
            let counters = emulator.counters
            #expect(counters.concurrencyRejections == 1)
            #expect(counters.rateLimited == 1)
            #expect(counters.maxConcurrentChats >= 1)
            #expect(counters.currentConcurrentChats == 0)
            #expect(counters.completedChats == 2)
        }
    }

    @Test func slotIsFreeTheMomentAnAnswerHasBeenRead() async throws {
        let configuration = GigaChatEmulatorConfiguration(faults: .init(concurrencyLimitPerToken: 1))
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let stream = try EmulatorTestSupport.chatBody(messages: [("user", "one")], stream: true)
            let whole = try EmulatorTestSupport.chatBody(messages: [("user", "two")])
            // Back to back on one limit-1 account: each next call starts right after the previous answer ended.
            for body in [stream, whole, stream, whole] {
                let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
                #expect(response.status == 200)
            }
            #expect(emulator.counters.concurrencyRejections == 0)
        }
    }

    @Test func failFirstAnswersTheListedStatusesInOrder() async throws {
        let configuration = GigaChatEmulatorConfiguration(faults: .init(failFirst: [429, 500, 503]))
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "retry me")])
            var statuses: [Int] = []
            var bodies: [String] = []
            for _ in 0..<4 {
                let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
                statuses.append(response.status)
                bodies.append(response.text)
            }
            #expect(statuses == [429, 500, 503, 200])
            #expect(bodies[0] == "{\"status\":429,\"message\":\"Too many requests\"}\n")
            #expect(bodies[1] == "{\"status\":500,\"message\":\"Internal Server Error\"}\n")
            #expect(bodies[2] == "{\"status\":503,\"message\":\"Service Unavailable\"}\n")
            #expect(bodies[3].contains("Echo: retry me"))
            #expect(emulator.counters.rateLimited == 1)
            #expect(emulator.counters.injectedErrors == 2)
            #expect(emulator.counters.chatCalls == 4)

            // New faults restart the list.
            emulator.updateFaults(.init(failFirst: [502]))
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 502)
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 200)
        }
    }

    @Test func errorRatesOfOneRejectEveryCall() async throws {
        try await EmulatorTestSupport.withEmulator(.init(faults: .init(internalErrorRate: 1))) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "x")])
            for _ in 0..<3 {
                #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 500)
            }
            emulator.updateFaults(.init(rateLimitedRate: 1))
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 429)
            emulator.updateFaults(.init(unavailableRate: 1))
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 503)
            emulator.updateFaults(.init())
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 200)
        }
    }

    @Test func cutStreamClosesTheConnectionWithoutDone() async throws {
        try await EmulatorTestSupport.withEmulator(.init(faults: .init(cutStreamAfterEvents: 2))) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "one two three four")], stream: true)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(response.status == 200)
            #expect(response.isChunked)
            // No terminating zero-size chunk: the body is cut, not finished.
            #expect(!response.isComplete)
            #expect(response.chunks.count == 2)
            #expect(!response.text.contains("[DONE]"))
            #expect(!response.text.contains("finish_reason"))
            let counters = emulator.counters
            #expect(counters.cutStreams == 1)
            #expect(counters.completedChats == 0)
            #expect(counters.currentConcurrentChats == 0)
        }
    }

    @Test func cutBeyondTheLastJSONEventStillWithholdsDone() async throws {
        try await EmulatorTestSupport.withEmulator(.init(faults: .init(cutStreamAfterEvents: 1000))) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "short")], stream: true)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(!response.isComplete)
            #expect(response.text.contains("finish_reason"))
            #expect(!response.text.contains("[DONE]"))
        }
    }

    @Test func malformedEventIsBrokenJSONAndTheRestFollows() async throws {
        try await EmulatorTestSupport.withEmulator(.init(faults: .init(malformedEventAt: 2))) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "one two three")], stream: true)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(response.isComplete)
            let payloads = try EmulatorTestSupport.ssePayloads(response.body)
            #expect(payloads.last == "[DONE]")
            #expect(throws: (any Error).self) {
                try JSONSerialization.jsonObject(with: Data(payloads[1].utf8))
            }
            for (index, payload) in payloads.dropLast().enumerated() where index != 1 {
                #expect(throws: Never.self) { try JSONSerialization.jsonObject(with: Data(payload.utf8)) }
            }
            #expect(emulator.counters.malformedEvents == 1)
        }
    }

    @Test func slowOAuthIsDelayed() async throws {
        try await EmulatorTestSupport.withEmulator(.init(faults: .init(oauthDelay: .milliseconds(300)))) { emulator in
            let start = ContinuousClock.now
            _ = try await EmulatorTestSupport.token(emulator)
            // A lower bound: the answer cannot come before the configured delay.
            #expect(ContinuousClock.now - start >= .milliseconds(300))
        }
    }

    @Test func countsManyConcurrentStreamsAndTheirPeak() async throws {
        let configuration = GigaChatEmulatorConfiguration(timeToFirstToken: .milliseconds(200), chunkCount: 2)
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "parallel")], stream: true)
            let port = emulator.port
            let streams = 200
            let completed = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<streams {
                    group.addTask {
                        let response = try await RawHTTPClient.send(
                            port: port,
                            "POST",
                            "/api/v1/chat/completions",
                            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                            body: body
                        )
                        return response.isComplete && response.text.hasSuffix("data: [DONE]\n\n")
                    }
                }
                var count = 0
                for try await ok in group where ok { count += 1 }
                return count
            }
            #expect(completed == streams)
            let counters = emulator.counters
            #expect(counters.streamCalls == streams)
            #expect(counters.completedChats == streams)
            #expect(counters.currentConcurrentChats == 0)
            // Each stream waits 200 ms for its first event, so they overlap; the peak shows it.
            #expect(counters.maxConcurrentChats > 1)
            emulator.resetCounters()
            #expect(emulator.counters == GigaChatEmulatorCounters())
        }
    }

    @Test func aBalanceRunsOutWith402AndATopUpThroughTheAdminRouteRestoresIt() async throws {
        let configuration = GigaChatEmulatorConfiguration(faults: GigaChatEmulatorFaults(balanceTokens: 10))
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            // "one two three four five": 5 prompt tokens and an answer of more: the first answer uses it all up.
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "one two three four five")])
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 200)
            let refused = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(refused.status == 402)
            #expect(refused.text == "{\"status\":402,\"message\":\"Payment Required\"}\n")
            #expect(emulator.counters.paymentRequired == 1)
            let faults = try await EmulatorTestSupport.post(emulator, token: "", "/admin/faults", body: "{\"balance_tokens\":null}")
            #expect(faults.status == 200)
            #expect(try EmulatorTestSupport.object(faults.text)["balance_tokens"] is NSNull)
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 200)
        }
    }

    @Test func anOutageSetThroughTheAdminRouteAnswers503UntilCleared() async throws {
        try await EmulatorTestSupport.withEmulator(GigaChatEmulatorConfiguration()) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "hello")])
            let set = try await EmulatorTestSupport.post(emulator, token: "", "/admin/faults", body: "{\"outage\":true}")
            #expect(set.status == 200 && emulator.faults.outage)
            let down = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(down.status == 503)
            _ = try await EmulatorTestSupport.post(emulator, token: "", "/admin/faults", body: "{\"outage\":false}")
            #expect(try await EmulatorTestSupport.chat(emulator, token: token, body: body).status == 200)
            // Unknown members and invalid values change nothing.
            let unknown = try await EmulatorTestSupport.post(emulator, token: "", "/admin/faults", body: "{\"outages\":true}")
            #expect(unknown.status == 400)
            let invalid = try await EmulatorTestSupport.post(
                emulator, token: "", "/admin/faults", body: "{\"rate_limited_rate\":2,\"outage\":true}"
            )
            #expect(invalid.status == 400 && !emulator.faults.outage)
            let counters = try await EmulatorTestSupport.get(emulator, token: nil, "/admin/counters")
            let object = try EmulatorTestSupport.object(counters.text)
            #expect(object["chat_calls"] as? Int == 2 && object["injected_errors"] as? Int == 1)
        }
    }

    @Test func busyTimeIsTheIntegralOfConcurrentChats() async throws {
        let configuration = GigaChatEmulatorConfiguration(timeToFirstToken: .milliseconds(300))
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "hello")])
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<4 { group.addTask { try await EmulatorTestSupport.chat(emulator, token: token, body: body).status } }
                for try await status in group { #expect(status == 200) }
            }
            // Four chats of at least 300 ms each, at once: about 1.2 stream-seconds.
            let busy = emulator.counters.concurrentChatSeconds
            #expect(busy >= 1.2 && busy < 2.5, "\(busy) stream-seconds")
        }
    }
}
