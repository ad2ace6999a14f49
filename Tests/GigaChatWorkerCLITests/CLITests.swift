import Foundation
import GigaChatEmulator
import Testing

/// The `gigachat-worker` executable as a user runs it: the one-minute check (`chat`, `models`) against the
/// in-process emulator, and what a user sees when something is wrong.
@Suite("gigachat-worker command line", .timeLimit(.minutes(1)))
struct CLITests {
    /// An authorization key the emulator accepts (Base64 of `cli-test:secret`).
    static let key = "Y2xpLXRlc3Q6c2VjcmV0"

    @Test func chatStreamsTheAnswerToStdout() async throws {
        try await Self.withEmulator { emulator in
            let result = try await CLIProcess.run(
                ["chat", "--system", "Be brief.", "Привет, what is Kafka?"] + Self.urls(emulator),
                environment: ["GIGACHAT_CREDENTIALS": Self.key]
            )
            let expected = GigaChatEmulator.answer(
                for: [(role: "system", content: "Be brief."), (role: "user", content: "Привет, what is Kafka?")],
                model: "GigaChat"
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == expected + "\n")
            #expect(emulator.counters.streamCalls == 1)
            #expect(emulator.counters.oauthCalls == 1)
        }
    }

    @Test func chatWithoutStreamingPrintsTheSameAnswer() async throws {
        try await Self.withEmulator { emulator in
            let result = try await CLIProcess.run(
                ["chat", "--no-stream", "--model", "GigaChat-2-Max", "Hello"] + Self.urls(emulator),
                environment: ["GIGACHAT_CREDENTIALS": Self.key]
            )
            let expected = GigaChatEmulator.answer(for: [(role: "user", content: "Hello")], model: "GigaChat-2-Max")
            #expect(result.status == 0, "stderr: \(result.stderr)")
            #expect(result.stdout == expected + "\n")
            #expect(emulator.counters.streamCalls == 0)
            #expect(emulator.counters.chatCalls == 1)
        }
    }

    @Test func modelsListsEveryModelWithItsType() async throws {
        try await Self.withEmulator { emulator in
            let result = try await CLIProcess.run(
                ["models"] + Self.urls(emulator),
                environment: ["GIGACHAT_CREDENTIALS": Self.key]
            )
            #expect(result.status == 0, "stderr: \(result.stderr)")
            let lines = result.stdout.split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
            #expect(lines.map { $0.first ?? "" } == GigaChatEmulatorConfiguration().models)
            #expect(lines.allSatisfy { $0.count == 2 && !$0[1].isEmpty })
        }
    }

    @Test func rejectedCredentialsFailWithTheServersMessageAndNoSecret() async throws {
        try await Self.withEmulator { emulator in
            let wrongKey = "d3Jvbmc6a2V5LXRoYXQtbXVzdC1ub3QtbGVhaw=="
            let result = try await CLIProcess.run(
                ["chat", "hi"] + Self.urls(emulator),
                environment: ["GIGACHAT_CREDENTIALS": wrongKey]
            )
            #expect(result.status != 0)
            #expect(result.stdout.isEmpty)
            #expect(result.stderr.contains("error:"))
            #expect(result.stderr.contains("credentials doesn't match"))
            #expect(!result.stderr.contains(wrongKey))
            #expect(emulator.counters.chatCalls == 0)
        }
    }

    @Test func missingCredentialsAreAClearError() async throws {
        try await Self.withEmulator { emulator in
            let result = try await CLIProcess.run(["models"] + Self.urls(emulator), environment: [:])
            #expect(result.status != 0)
            #expect(result.stderr.contains("error:"))
            #expect(result.stderr.contains("GIGACHAT_CREDENTIALS"))
            #expect(emulator.counters.oauthCalls == 0)
        }
    }

    static func urls(_ emulator: GigaChatEmulator) -> [String] {
        ["--base-url", emulator.baseURL, "--auth-url", emulator.authURL]
    }

    static func withEmulator(_ body: (GigaChatEmulator) async throws -> Void) async throws {
        let emulator = GigaChatEmulator(configuration: .init(authorizationKeys: [Self.key], chunkCount: 5))
        try await emulator.start()
        do {
            try await body(emulator)
        } catch {
            try await emulator.shutdown()
            throw error
        }
        try await emulator.shutdown()
    }
}
