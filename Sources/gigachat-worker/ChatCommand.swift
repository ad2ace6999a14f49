import ArgumentParser

// Placeholder so the executable builds while the Chat subcommand is written; replaced by the real command.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "chat")
}
