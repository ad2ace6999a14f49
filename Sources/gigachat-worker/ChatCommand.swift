import ArgumentParser
import GigaChat

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

    @OptionGroup var connection: GigaChatConnectionOptions

    @Flag(help: "Wait for the whole answer instead of streaming it.")
    var noStream = false

    @Argument(help: "The prompt.")
    var prompt: String

    func run() async throws {
        var messages: [ChatMessage] = []
        if let system { messages.append(.system(system)) }
        messages.append(.user(self.prompt))
        let request = ChatRequest(model: self.model, messages: messages)
        try await self.connection.withClient { client in
            if self.noStream {
                let response = try await client.chat(request)
                CLIOutput.write(response.content + "\n")
                return
            }
            var last: ChatChunk?
            for try await chunk in client.stream(request) {
                CLIOutput.write(chunk.content)
                last = chunk
            }
            CLIOutput.write("\n")
            if let finish = last?.finishReason, finish != .stop {
                CLIOutput.writeError("finish_reason: \(finish)\n")
            }
        }
    }
}
