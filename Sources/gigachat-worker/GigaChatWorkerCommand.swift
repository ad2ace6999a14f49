import ArgumentParser

/// The `gigachat-worker` executable: argument parsing and wiring only; the logic lives in the library modules.
@main
struct GigaChatWorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gigachat-worker",
        abstract: "Kafka prompt jobs in, GigaChat completions out.",
        subcommands: [
            RunCommand.self, SubmitCommand.self, CollectCommand.self, ConfigCommand.self, ChatCommand.self, ModelsCommand.self,
            EmulatorCommand.self, TopicsCommand.self,
        ]
    )
}
