import ArgumentParser

// Placeholder so the executable builds while the Emulator subcommand is written; replaced by the real command.
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "emulator")
}
