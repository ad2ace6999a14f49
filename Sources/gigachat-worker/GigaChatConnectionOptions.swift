import ArgumentParser
import Foundation
import GigaChat
import Logging

/// Connection flags shared by the one-off GigaChat commands (`chat`, `models`). They win over the official
/// SDK's environment (`GIGACHAT_*`), which wins over the defaults.
struct GigaChatConnectionOptions: ParsableArguments {
    @Option(help: "API root (default: GIGACHAT_BASE_URL or https://gigachat.devices.sberbank.ru/api/v1).")
    var baseURL: String?

    @Option(help: "OAuth endpoint (default: GIGACHAT_AUTH_URL or https://ngw.devices.sberbank.ru:9443/api/v2/oauth).")
    var authURL: String?

    @Option(help: "PEM file of extra trusted CAs (default: GIGACHAT_CA_BUNDLE_FILE).")
    var caBundle: String?

    @Option(help: "OAuth scope (default: GIGACHAT_SCOPE or GIGACHAT_API_PERS).")
    var scope: String?

    /// The environment's configuration with these flags applied.
    func configuration() throws -> GigaChatConfiguration {
        do {
            var configuration = try GigaChatConfiguration.fromEnvironment()
            if let baseURL { configuration.baseURL = baseURL }
            if let authURL { configuration.authURL = authURL }
            if let caBundle { configuration.tls.caBundleFile = caBundle }
            if let scope { configuration.scope = scope }
            return configuration
        } catch {
            CLIOutput.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }

    /// Runs `body` with a client that is shut down afterwards; an error is printed to stderr and becomes a
    /// non-zero exit status (errors never contain credentials or tokens).
    func withClient(_ body: (GigaChatClient) async throws -> Void) async throws {
        var logger = Logger(label: "gigachat") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = .warning
        let client: GigaChatClient
        do {
            client = try GigaChatClient(configuration: try self.configuration(), logger: logger)
        } catch let exit as ExitCode {
            throw exit
        } catch {
            CLIOutput.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
        do {
            try await body(client)
            try await client.shutdown()
        } catch {
            try? await client.shutdown()
            CLIOutput.writeError("error: \(error)\n")
            throw ExitCode.failure
        }
    }
}
