import ArgumentParser
import Worker

/// `gigachat-worker config check|print`: the worker's effective configuration, before running it.
struct ConfigCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config",
        abstract: "Check or print the worker's effective configuration (file, environment and flags, as run reads them).",
        subcommands: [Check.self, Print.self]
    )

    /// Loads the configuration as `run` does; on an invalid value prints it and exits 2.
    static func load(_ settings: WorkerSettingsOptions) async throws -> WorkerConfiguration {
        do {
            return try await WorkerConfiguration.load(settings.sources)
        } catch {
            CLIOutput.writeError("error: \(error)\n")
            throw ExitCode(2)
        }
    }

    /// `config check`: exit 0 when `run` would accept the configuration, 2 (with the key, the problem and what is
    /// allowed) when not.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate the configuration without connecting; exit 2 naming every problem (unknown keys with the nearest valid one, invalid values)."
        )

        @OptionGroup var settings: WorkerSettingsOptions

        func run() async throws {
            let configuration = try await ConfigCommand.load(settings)
            CLIOutput.write(
                "configuration ok: \(configuration.kafka.bootstrapServers.joined(separator: ",")), group "
                    + "\(configuration.kafka.groupID), jobs topic \(configuration.topics.jobs)\n"
            )
        }
    }

    /// `config print`: every key, its effective value (secrets redacted) and where it came from.
    struct Print: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every key with its effective value (secrets redacted) and its source: flag, environment, file or default."
        )

        @OptionGroup var settings: WorkerSettingsOptions

        func run() async throws {
            let configuration = try await ConfigCommand.load(settings)
            let origins = try await WorkerConfiguration.origins(settings.sources)
            let rows = configuration.describedValues
            let width = rows.map(\.key.count).max() ?? 0
            for (key, value) in rows {
                let origin = origins[key] ?? "default"
                CLIOutput.write("\(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)  (\(origin))\n")
            }
        }
    }
}
