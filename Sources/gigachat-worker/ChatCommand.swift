import ArgumentParser
import Foundation
import GigaChat
import Logging

/// `gigachat-worker chat`: one streamed chat call, to check credentials, TLS and connectivity in a minute.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Send one prompt to GigaChat and stream the answer to stdout.",
        discussion: """
            Reads the official SDK's environment (GIGACHAT_CREDENTIALS, GIGACHAT_SCOPE, GIGACHAT_BASE_URL, \
            GIGACHAT_AUTH_URL, GIGACHAT_MODEL, GIGACHAT_CA_BUNDLE_FILE, ...); flags win over it. \
            Errors go to stderr and the exit status is non-zero.
            """
    )

    @Option(help: "Model (default: GIGACHAT_MODEL or GigaChat).")
    var model: String?

    @Option(help: "A system message sent before the prompt.")
    var system: String?

    @Option(help: "API root (default: GIGACHAT_BASE_URL or https://gigachat.devices.sberbank.ru/api/v1).")
    var baseURL: String?

    @Option(help: "OAuth endpoint (default: GIGACHAT_AUTH_URL or https://ngw.devices.sberbank.ru:9443/api/v2/oauth).")
    var authURL: String?

    @Option(help: "PEM file of extra trusted CAs (default: GIGACHAT_CA_BUNDLE_FILE).")
    var caBundle: String?

    @Option(help: "OAuth scope (default: GIGACHAT_SCOPE or GIGACHAT_API_PERS).")
    var scope: String?

    @Flag(help: "Wait for the whole answer instead of streaming it.")
    var noStream = false

    @Argument(help: "The prompt.")
    var prompt: String

    func run() async throws {
        var configuration = try CLIConfiguration.load(
            baseURL: self.baseURL,
            authURL: self.authURL,
            caBundle: self.caBundle
        )
        if let scope { configuration.scope = scope }
        let client = try CLIConfiguration.client(configuration)
        var messages: [ChatMessage] = []
        if let system { messages.append(.system(system)) }
        messages.append(.user(self.prompt))
        let request = ChatRequest(model: self.model, messages: messages)
        do {
            if self.noStream {
                let response = try await client.chat(request)
                CLIConfiguration.write(response.content + "\n")
            } else {
                var last: ChatChunk?
                for try await chunk in client.stream(request) {
                    CLIConfiguration.write(chunk.content)
                    last = chunk
                }
                CLIConfiguration.write("\n")
                if let finish = last?.finishReason, finish != .stop {
                    CLIConfiguration.writeError("finish_reason: \(finish)\n")
                }
            }
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            CLIConfiguration.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}

/// Configuration and output helpers shared by the one-off GigaChat commands.
enum CLIConfiguration {
    static func load(baseURL: String?, authURL: String?, caBundle: String?) throws -> GigaChatConfiguration {
        do {
            var configuration = try GigaChatConfiguration.fromEnvironment()
            if let baseURL { configuration.baseURL = baseURL }
            if let authURL { configuration.authURL = authURL }
            if let caBundle { configuration.tls.caBundleFile = caBundle }
            return configuration
        } catch {
            Self.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }

    static func client(_ configuration: GigaChatConfiguration) throws -> GigaChatClient {
        var logger = Logger(label: "gigachat") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        do {
            return try GigaChatClient(configuration: configuration, logger: logger)
        } catch {
            Self.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// Writes to stdout; a closed pipe (`| head`) is not an error worth crashing for.
    static func write(_ text: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
    }

    static func writeError(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
    }
}
