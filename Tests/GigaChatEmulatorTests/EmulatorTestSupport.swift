import Foundation
import GigaChatEmulator
import NIOCore
import NIOPosix
import Testing

/// Shared set-up for the emulator tests: start/stop, a token, a chat call, SSE splitting.
enum EmulatorTestSupport {
    /// An authorization key in the real format: base64 of `client_id:client_secret` (made up).
    static let key = Data("0f5b3c2e-emulator-client:not-a-real-secret".utf8).base64EncodedString()
    static let scope = "GIGACHAT_API_PERS"

    /// Runs `body` against a started emulator and always shuts it down.
    static func withEmulator<T>(
        _ configuration: GigaChatEmulatorConfiguration = .init(),
        _ body: (GigaChatEmulator) async throws -> T
    ) async throws -> T {
        let emulator = GigaChatEmulator(configuration: configuration)
        try await emulator.start()
        do {
            let result = try await body(emulator)
            try await emulator.shutdown()
            return result
        } catch {
            try? await emulator.shutdown()
            throw error
        }
    }

    /// Runs `body` with a one-thread event loop group of its own (shut down afterwards), for clients whose reads
    /// must not wait behind the load of tests running alongside on the shared singleton group.
    static func withOwnEventLoop<T>(_ body: (any EventLoopGroup) async throws -> T) async throws -> T {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let result = try await body(group)
            try await group.shutdownGracefully()
            return result
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
    }

    static func oauth(
        _ emulator: GigaChatEmulator,
        key: String? = EmulatorTestSupport.key,
        scope: String? = EmulatorTestSupport.scope,
        rqUID: String? = UUID().uuidString.lowercased(),
        tls: Bool = false
    ) async throws -> RawHTTPResponse {
        var headers: [(String, String)] = [("Content-Type", "application/x-www-form-urlencoded")]
        if let key { headers.append(("Authorization", "Basic \(key)")) }
        if let rqUID { headers.append(("RqUID", rqUID)) }
        return try await RawHTTPClient.send(
            port: emulator.port,
            tls: tls,
            "POST",
            "/api/v2/oauth",
            headers: headers,
            body: scope.map { "scope=\($0)" } ?? ""
        )
    }

    static func token(_ emulator: GigaChatEmulator, scope: String = EmulatorTestSupport.scope, tls: Bool = false)
        async throws -> String
    {
        let response = try await oauth(emulator, scope: scope, tls: tls)
        try #require(response.status == 200, "OAuth answered \(response.status): \(response.text)")
        let json = try #require(try response.json() as? [String: Any])
        return try #require(json["access_token"] as? String)
    }

    static func chat(
        _ emulator: GigaChatEmulator,
        token: String,
        body: String,
        extraHeaders: [(String, String)] = [],
        tls: Bool = false
    ) async throws -> RawHTTPResponse {
        try await RawHTTPClient.send(
            port: emulator.port,
            tls: tls,
            "POST",
            "/api/v1/chat/completions",
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")] + extraHeaders,
            body: body
        )
    }

    static func get(_ emulator: GigaChatEmulator, token: String?, _ path: String) async throws -> RawHTTPResponse {
        try await RawHTTPClient.send(
            port: emulator.port,
            "GET",
            path,
            headers: token.map { [("Authorization", "Bearer \($0)")] } ?? []
        )
    }

    static func post(_ emulator: GigaChatEmulator, token: String, _ path: String, body: String) async throws
        -> RawHTTPResponse
    {
        try await RawHTTPClient.send(
            port: emulator.port,
            "POST",
            path,
            headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
            body: body
        )
    }

    /// A chat body with one user message (JSON-escaped by Foundation).
    static func chatBody(
        model: String = "GigaChat",
        messages: [(String, String)],
        stream: Bool = false,
        extra: [String: Any] = [:]
    ) throws -> String {
        var object: [String: Any] = [
            "model": model,
            "messages": messages.map { ["role": $0.0, "content": $0.1] },
        ]
        if stream { object["stream"] = true }
        for (key, value) in extra { object[key] = value }
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// Splits an SSE body into the payloads of its `data: ` lines, checking the `data: <payload>\n\n` framing.
    static func ssePayloads(_ body: [UInt8]) throws -> [String] {
        let text = String(decoding: body, as: UTF8.self)
        try #require(text.hasSuffix("\n\n"), "SSE body does not end with a blank line")
        return try text.dropLast(2).components(separatedBy: "\n\n").map { event in
            try #require(event.hasPrefix("data: "), "event without 'data: ': \(event)")
            try #require(!event.dropFirst(6).contains("\n"), "event spans several lines: \(event)")
            return String(event.dropFirst(6))
        }
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    /// The top-level keys of a JSON object in wire order (strings are skipped correctly; nesting is tracked).
    static func topLevelKeys(_ text: String) -> [String] {
        var keys: [String] = []
        var depth = 0
        var inString = false
        var escaped = false
        var current = ""
        var expectKey = false
        for character in text {
            if inString {
                if escaped {
                    escaped = false
                    current.append(character)
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    inString = false
                    if expectKey, depth == 1 { keys.append(current) }
                    expectKey = false
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                inString = true
                current = ""
            case "{", "[":
                depth += 1
                expectKey = character == "{" && depth == 1
            case "}", "]":
                depth -= 1
            case ",":
                expectKey = depth == 1
            default:
                break
            }
        }
        return keys
    }
}

extension String.UTF8View {
    /// Byte offsets where `needle` starts.
    func indices(of needle: String) -> [Int] {
        let haystack = Array(self)
        let pattern = Array(needle.utf8)
        guard haystack.count >= pattern.count else { return [] }
        return (0...(haystack.count - pattern.count)).filter {
            haystack[$0..<($0 + pattern.count)].elementsEqual(pattern)
        }
    }
}
