import Foundation
import GigaChatEmulator
import Logging
import Testing

@testable import GigaChat

/// Starts an emulator on 127.0.0.1 and a client for it; fails (never skips) when the emulator cannot start.
enum EmulatorHarness {
    /// A fresh authorization key per test, so that the process-wide token registry never mixes tests.
    static func freshCredentials() -> String {
        Data("client-\(UUID().uuidString):secret-\(UUID().uuidString)".utf8).base64EncodedString()
    }

    static func clientConfiguration(for emulator: GigaChatEmulator, credentials: String) -> GigaChatConfiguration {
        var configuration = GigaChatConfiguration(
            baseURL: emulator.baseURL,
            authURL: emulator.authURL,
            credentials: credentials
        )
        configuration.retry.backoffFactor = .milliseconds(10)
        configuration.timeouts.idle = .seconds(20)
        return configuration
    }

    static func run<T>(
        emulator emulatorConfiguration: GigaChatEmulatorConfiguration = .init(),
        logger: Logger = Logger(label: "gigachat-test"),
        configure: (inout GigaChatConfiguration) -> Void = { _ in },
        _ body: (GigaChatEmulator, GigaChatClient, GigaChatConfiguration) async throws -> T
    ) async throws -> T {
        let emulator = GigaChatEmulator(configuration: emulatorConfiguration)
        try await emulator.start()
        let credentials = Self.freshCredentials()
        var configuration = Self.clientConfiguration(for: emulator, credentials: credentials)
        configure(&configuration)
        let client: GigaChatClient
        do {
            client = try GigaChatClient(configuration: configuration, logger: logger)
        } catch {
            try await emulator.shutdown()
            throw error
        }
        do {
            let result = try await body(emulator, client, configuration)
            try await client.shutdown()
            try await emulator.shutdown()
            return result
        } catch {
            try? await client.shutdown()
            try? await emulator.shutdown()
            throw error
        }
    }

    static func expectedAnswer(_ prompt: String, model: String = "GigaChat") -> String {
        GigaChatEmulator.answer(for: [(role: "user", content: prompt)], model: model)
    }
}
