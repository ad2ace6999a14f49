import ArgumentParser

// Placeholder so the executable builds while the Models subcommand is written; replaced by the real command.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "models")
}
