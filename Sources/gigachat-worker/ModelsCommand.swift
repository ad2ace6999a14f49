import ArgumentParser
import GigaChat

/// `gigachat-worker models`: lists the models the credentials can use.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the GigaChat models available to the configured credentials.",
        discussion: "Reads the official SDK's environment (GIGACHAT_*); flags win over it."
    )

    @OptionGroup var connection: GigaChatConnectionOptions

    func run() async throws {
        try await self.connection.withClient { client in
            for model in try await client.models() {
                CLIOutput.write("\(model.id)\t\(model.type ?? "-")\n")
            }
        }
    }
}
