import Foundation
import GigaChatEmulator
import TestSupport
import Testing

/// The emulator against a client nobody here wrote: the official Python SDK (gigachat 0.2.3, installed into
/// `.venv` by scripts/bootstrap.sh) runs `sdk_check.py` against an in-process emulator.
@Suite("Official Python SDK compatibility", .timeLimit(.minutes(1)))
struct SDKCompatibilityTests {
    /// The package root, found from this file's path (Tests/GigaChatEmulatorTests/<file>).
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    @Test func officialSDKCompletesChatStreamModelsAndTokenCount() async throws {
        let (python, script) = try Self.sdkCheck()
        let key = EmulatorTestSupport.key
        let configuration = GigaChatEmulatorConfiguration(authorizationKeys: [key], chunkCount: 4)
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let chatPrompt = "Привет! Say 'Hello' and nothing else"
            let streamPrompt = "Count from 1 to 3, пожалуйста"
            var environment = ProcessInfo.processInfo.environment
            environment["GIGACHAT_BASE_URL"] = emulator.baseURL
            environment["GIGACHAT_AUTH_URL"] = emulator.authURL
            environment["GIGACHAT_CREDENTIALS"] = key
            environment["GIGACHAT_SCOPE"] = "GIGACHAT_API_PERS"
            environment["CHAT_PROMPT"] = chatPrompt
            environment["STREAM_PROMPT"] = streamPrompt
            environment["EXPECTED_CHAT"] = GigaChatEmulator.answer(
                for: [(role: "user", content: chatPrompt)],
                model: "GigaChat"
            )
            environment["EXPECTED_STREAM"] = GigaChatEmulator.answer(
                for: [(role: "user", content: streamPrompt)],
                model: "GigaChat"
            )
            environment["PYTHONIOENCODING"] = "utf-8"
            let result = try await Self.run(python, [script.path], environment: environment)
            #expect(result.status == 0, "sdk_check.py failed:\n\(result.output)")
            #expect(result.output.contains("ok: chat content"))
            #expect(result.output.contains("ok: stream content"))
            #expect(result.output.contains("ok: tokens_count"))
            #expect(result.output.contains("ok: v2 parse fills the nested model"))
            #expect(result.output.contains("ok: async v2 parse"))
            #expect(result.output.contains("ok: the attached file reached the model"))
            #expect(result.output.contains("SDK_CHECK OK"))
            #expect(!result.output.contains("FAILED"))
            let counters = emulator.counters
            // One OAuth per client instance (sync and async), every call authorised with it.
            #expect(counters.oauthCalls == 2)
            // v1: chat and stream, sync and async; v2: create, stream and parse, sync and async.
            // And one chat with an attached file.
            #expect(counters.chatCalls == 11)
            #expect(counters.v2ChatCalls == 6)
            #expect(counters.streamCalls == 4)
            #expect(counters.completedChats == 11)
            #expect(counters.uploadedFiles == 1 && counters.deletedFiles == 1)
            #expect(counters.invalidRequests == 0)
            #expect(counters.rejectedUnauthorized == 0)
        }
    }

    @Test func officialSDKUnderstandsErrorAnswersAndRetries() async throws {
        let (python, script) = try Self.sdkCheck()
        let configuration = GigaChatEmulatorConfiguration(faults: .init(retryAfter: 1, failFirst: [429, 503]))
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            let prompt = "retry, please"
            var environment = ProcessInfo.processInfo.environment
            environment["GIGACHAT_BASE_URL"] = emulator.baseURL
            environment["GIGACHAT_AUTH_URL"] = emulator.authURL
            environment["GIGACHAT_CREDENTIALS"] = EmulatorTestSupport.key
            environment["GIGACHAT_SCOPE"] = "GIGACHAT_API_PERS"
            environment["SDK_CHECK_MODE"] = "faults"
            environment["CHAT_PROMPT"] = prompt
            environment["STREAM_PROMPT"] = prompt
            environment["EXPECTED_CHAT"] = GigaChatEmulator.answer(
                for: [(role: "user", content: prompt)],
                model: "GigaChat"
            )
            environment["EXPECTED_STREAM"] = environment["EXPECTED_CHAT"]
            environment["PYTHONIOENCODING"] = "utf-8"
            let result = try await Self.run(python, [script.path], environment: environment)
            #expect(result.status == 0, "sdk_check.py failed:\n\(result.output)")
            #expect(result.output.contains("ok: chat succeeds after 429 and 503"))
            #expect(result.output.contains("ok: unknown model -> NotFoundError 404 No such model"))
            #expect(result.output.contains("SDK_CHECK OK"))
            let counters = emulator.counters
            #expect(counters.chatCalls == 5)
            #expect(counters.rateLimited == 1)
            #expect(counters.injectedErrors == 1)
            #expect(counters.invalidRequests == 2)
            #expect(counters.completedChats == 1)
        }
    }

    /// The venv's Python and `sdk_check.py`. Fails (not skips) without the SDK: scripts/bootstrap.sh installs it.
    static func sdkCheck() throws -> (python: String, script: URL) {
        let python = Self.packageRoot.appendingPathComponent(".venv/bin/python").path
        try #require(
            FileManager.default.isExecutableFile(atPath: python),
            "no Python venv at \(python); run scripts/bootstrap.sh"
        )
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("sdk_check.py")
        return (python, script)
    }

    /// Runs a process and returns its exit status and combined output.
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws
        -> (status: Int32, output: String)
    {
        let result = try await SpawnedProcess.run(
            executable,
            arguments,
            environment: environment,
            mergeOutput: true,
            timeout: .seconds(50)
        )
        return (result.status, String(decoding: result.stdout, as: UTF8.self))
    }
}
