import Foundation
import GigaChatEmulator
import Testing

@Suite("OAuth and tokens", .timeLimit(.minutes(1)))
struct OAuthTests {
    @Test func issuesOpaqueTokenWithExpiryInMilliseconds() async throws {
        let lifetime = Duration.seconds(600)
        try await EmulatorTestSupport.withEmulator(.init(tokenLifetime: lifetime)) { emulator in
            let before = Int64(Date().timeIntervalSince1970 * 1000)
            let response = try await EmulatorTestSupport.oauth(emulator)
            let after = Int64(Date().timeIntervalSince1970 * 1000)
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json")
            #expect(EmulatorTestSupport.topLevelKeys(response.text) == ["access_token", "expires_at"])
            let json = try EmulatorTestSupport.object(response.text)
            let token = try #require(json["access_token"] as? String)
            #expect(token.count > 32)
            let expiresAt = try #require((json["expires_at"] as? NSNumber)?.int64Value)
            #expect(expiresAt >= before + 600_000 && expiresAt <= after + 600_000)
            #expect(emulator.counters.oauthCalls == 1)
        }
    }

    @Test func eachOAuthCallIssuesANewToken() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let first = try await EmulatorTestSupport.token(emulator)
            let second = try await EmulatorTestSupport.token(emulator)
            #expect(first != second)
            #expect(emulator.counters.oauthCalls == 2)
        }
    }

    struct OAuthErrorCase: Sendable, CustomTestStringConvertible {
        var name: String
        var key: String?
        var scope: String?
        var rqUID: String?
        var status: Int
        var code: Int
        var message: String?
        var testDescription: String { name }
    }

    static let errorCases: [OAuthErrorCase] = [
        .init(
            name: "missing RqUID",
            key: EmulatorTestSupport.key,
            scope: "GIGACHAT_API_PERS",
            rqUID: nil,
            status: 400,
            code: 3,
            message: nil
        ),
        .init(
            name: "RqUID not a UUID",
            key: EmulatorTestSupport.key,
            scope: "GIGACHAT_API_PERS",
            rqUID: "not-a-uuid",
            status: 400,
            code: 3,
            message: nil
        ),
        .init(
            name: "RqUID a version 1 UUID",
            key: EmulatorTestSupport.key,
            scope: "GIGACHAT_API_PERS",
            rqUID: "6f0b1291-c7f3-13c6-bb2e-9f3efb2dc98e",
            status: 400,
            code: 3,
            message: nil
        ),
        .init(
            name: "key not base64",
            key: "client:secret!",
            scope: "GIGACHAT_API_PERS",
            rqUID: UUID().uuidString,
            status: 400,
            code: 4,
            message: "Can't decode 'Authorization' header"
        ),
        .init(
            name: "no Authorization",
            key: nil,
            scope: "GIGACHAT_API_PERS",
            rqUID: UUID().uuidString,
            status: 400,
            code: 4,
            message: "Can't decode 'Authorization' header"
        ),
        .init(
            name: "unknown key",
            key: Data("someone:else".utf8).base64EncodedString(),
            scope: "GIGACHAT_API_PERS",
            rqUID: UUID().uuidString,
            status: 401,
            code: 6,
            message: "credentials doesn't match db data"
        ),
        .init(
            name: "empty scope",
            key: EmulatorTestSupport.key,
            scope: "",
            rqUID: UUID().uuidString,
            status: 400,
            code: 5,
            message: "scope is empty"
        ),
        .init(
            name: "no scope field",
            key: EmulatorTestSupport.key,
            scope: nil,
            rqUID: UUID().uuidString,
            status: 400,
            code: 5,
            message: "scope is empty"
        ),
        .init(
            name: "unknown scope",
            key: EmulatorTestSupport.key,
            scope: "GIGACHAT_API_EVERYTHING",
            rqUID: UUID().uuidString,
            status: 400,
            code: 1,
            message: "scope data format invalid"
        ),
    ]

    @Test(arguments: errorCases)
    func answersOAuthErrorsInOAuthShape(_ errorCase: OAuthErrorCase) async throws {
        let configuration = GigaChatEmulatorConfiguration(authorizationKeys: [EmulatorTestSupport.key])
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let response = try await EmulatorTestSupport.oauth(
                emulator,
                key: errorCase.key,
                scope: errorCase.scope,
                rqUID: errorCase.rqUID
            )
            #expect(response.status == errorCase.status)
            #expect(EmulatorTestSupport.topLevelKeys(response.text) == ["code", "message"])
            let json = try EmulatorTestSupport.object(response.text)
            #expect((json["code"] as? Int) == errorCase.code)
            if let message = errorCase.message {
                #expect((json["message"] as? String) == message)
            }
            #expect(json["access_token"] == nil)
            // The key never shows up in what the emulator sends back.
            if let key = errorCase.key { #expect(!response.text.contains(key)) }
        }
    }

    @Test func acceptsTheKeyAfterBearerToo() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let response = try await RawHTTPClient.send(
                port: emulator.port,
                "POST",
                "/api/v2/oauth",
                headers: [("Authorization", "Bearer \(EmulatorTestSupport.key)"), ("RqUID", UUID().uuidString)],
                body: "scope=GIGACHAT_API_B2B"
            )
            #expect(response.status == 200)
        }
    }

    @Test func expiredTokenIsAnswered401TokenHasExpired() async throws {
        try await EmulatorTestSupport.withEmulator(.init(tokenLifetime: .seconds(2))) { emulator in
            let oauth = try await EmulatorTestSupport.oauth(emulator)
            let json = try EmulatorTestSupport.object(oauth.text)
            let token = try #require(json["access_token"] as? String)
            let expiresAt = try #require((json["expires_at"] as? NSNumber)?.int64Value)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "Hi")])
            let fresh = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            let answeredAt = Int64(Date().timeIntervalSince1970 * 1000)
            if answeredAt < expiresAt {
                #expect(fresh.status == 200)
            }
            // Sleep past expires_at as announced by the OAuth answer.
            let remaining = max(0, expiresAt - Int64(Date().timeIntervalSince1970 * 1000)) + 100
            try await Task.sleep(for: .milliseconds(remaining))
            let stale = try await EmulatorTestSupport.chat(emulator, token: token, body: body)
            #expect(stale.status == 401)
            #expect(stale.text == "{\"status\":401,\"message\":\"Token has expired\"}\n")
            #expect(stale.header("Content-Type") == "application/json; charset=utf-8")
            #expect(emulator.counters.rejectedExpired >= 1)
            #expect(emulator.counters.rejectedExpired == emulator.counters.rejectedUnauthorized)
        }
    }

    @Test func unknownOrMissingBearerIsUnauthorized() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "Hi")])
            let unknown = try await EmulatorTestSupport.chat(emulator, token: "made-up", body: body)
            #expect(unknown.status == 401)
            #expect(unknown.text == "{\"status\":401,\"message\":\"Unauthorized\"}\n")
            let missing = try await EmulatorTestSupport.get(emulator, token: nil, "/api/v1/models")
            #expect(missing.status == 401)
            #expect(missing.text == "{\"status\":401,\"message\":\"Unauthorized\"}\n")
            #expect(emulator.counters.rejectedUnauthorized == 2)
            #expect(emulator.counters.chatCalls == 0)
        }
    }

    @Test func passwordTokenEndpointAnswersTokAndExp() async throws {
        let configuration = GigaChatEmulatorConfiguration(users: ["alice": "wonderland"])
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let good = Data("alice:wonderland".utf8).base64EncodedString()
            let response = try await RawHTTPClient.send(
                port: emulator.port,
                "POST",
                "/api/v1/token",
                headers: [("Authorization", "Basic \(good)")]
            )
            #expect(response.status == 200)
            #expect(EmulatorTestSupport.topLevelKeys(response.text) == ["tok", "exp"])
            let token = try #require(try EmulatorTestSupport.object(response.text)["tok"] as? String)
            let models = try await EmulatorTestSupport.get(emulator, token: token, "/api/v1/models")
            #expect(models.status == 200)

            let bad = Data("alice:guess".utf8).base64EncodedString()
            let rejected = try await RawHTTPClient.send(
                port: emulator.port,
                "POST",
                "/api/v1/token",
                headers: [("Authorization", "Basic \(bad)")]
            )
            #expect(rejected.status == 401)
            #expect(emulator.counters.passwordTokenCalls == 2)
        }
    }
}

extension OAuthTests {
    @Test func acceptsUpperCaseUUID4AsRqUID() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let response = try await EmulatorTestSupport.oauth(emulator, rqUID: "6F0B1291-C7F3-43C6-BB2E-9F3EFB2DC98E")
            #expect(response.status == 200)
        }
    }
}

extension OAuthTests {
    @Test func limitsOAuthCallsPerSecond() async throws {
        try await EmulatorTestSupport.withEmulator(.init(faults: .init(oauthRequestsPerSecond: 3))) { emulator in
            let firstSecond = Int64(Date().timeIntervalSince1970)
            let responses = try await withThrowingTaskGroup(of: RawHTTPResponse.self) { group in
                for _ in 0..<8 { group.addTask { try await EmulatorTestSupport.oauth(emulator) } }
                var responses: [RawHTTPResponse] = []
                for try await response in group { responses.append(response) }
                return responses
            }
            let windows = Int(Int64(Date().timeIntervalSince1970) - firstSecond + 1)
            let granted = responses.filter { $0.status == 200 }.count
            let limited = responses.filter { $0.status == 429 }
            // At most 3 per one-second window the burst touched; the rest are refused.
            #expect(granted <= 3 * windows)
            #expect(granted + limited.count == 8)
            #expect(limited.count >= 8 - 3 * windows)
            #expect(limited.allSatisfy { $0.text == "{\"code\":429,\"message\":\"Too many requests\"}" })
            #expect(emulator.counters.oauthCalls == 8)
            #expect(emulator.counters.oauthRateLimited == limited.count)
        }
    }

    @Test func staticAccessTokensWorkWithoutOAuthAndNeverExpire() async throws {
        let configuration = GigaChatEmulatorConfiguration(
            staticAccessTokens: ["pre-issued-token"],
            tokenLifetime: .milliseconds(1)
        )
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "static")])
            let response = try await EmulatorTestSupport.chat(emulator, token: "pre-issued-token", body: body)
            #expect(response.status == 200)
            #expect(emulator.counters.oauthCalls == 0)
            let other = try await EmulatorTestSupport.chat(emulator, token: "another-token", body: body)
            #expect(other.status == 401)
        }
    }
}
