import ArgumentParser
import GigaChat

/// `gigachat-worker models`: lists the models the credentials can use.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "List the GigaChat models available to the configured credentials.",
        discussion: "Reads the official SDK's environment (GIGACHAT_*); flags win over it."
    )

    @Option(help: "API root (default: GIGACHAT_BASE_URL or https://gigachat.devices.sberbank.ru/api/v1).")
    var baseURL: String?

    @Option(help: "OAuth endpoint (default: GIGACHAT_AUTH_URL or https://ngw.devices.sberbank.ru:9443/api/v2/oauth).")
    var authURL: String?

    @Option(help: "PEM file of extra trusted CAs (default: GIGACHAT_CA_BUNDLE_FILE).")
    var caBundle: String?

    @Option(help: "OAuth scope (default: GIGACHAT_SCOPE or GIGACHAT_API_PERS).")
    var scope: String?

    func run() async throws {
        var configuration = try CLIConfiguration.load(
            baseURL: self.baseURL,
            authURL: self.authURL,
            caBundle: self.caBundle
        )
        if let scope { configuration.scope = scope }
        let client = try CLIConfiguration.client(configuration)
        do {
            let models = try await client.models()
            try await client.shutdown()
            for model in models {
                CLIConfiguration.write("\(model.id)\t\(model.type ?? "-")\n")
            }
        } catch {
            try? await client.shutdown()
            CLIConfiguration.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}
