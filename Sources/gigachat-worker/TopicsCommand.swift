import ArgumentParser
import Kafka
import Logging

/// `gigachat-worker topics`: topic administration for operators and the demo.
struct TopicsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Manage the Kafka topics the worker uses.",
        subcommands: [Create.self]
    )

    /// `gigachat-worker topics create NAME...`: creates topics; one that already exists is not an error.
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create topics (an existing topic is left as it is).",
            discussion: "Any librdkafka property passes through with -X (SASL, SSL, ...), as in kcat."
        )

        @Option(help: "Kafka bootstrap servers, comma-separated.")
        var bootstrapServers = "127.0.0.1:9092"

        @Option(help: "Partitions per topic.")
        var partitions: Int32 = 6

        @Option(help: "Replication factor.")
        var replicationFactor: Int16 = 1

        @Option(name: .customShort("X"), help: "A librdkafka property as key=value (repeatable).")
        var property: [String] = []

        @Argument(help: "Topic names.")
        var names: [String]

        func run() async throws {
            var properties: [String: String] = [:]
            for pair in self.property {
                guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                    throw ValidationError("-X takes key=value, got '\(pair.prefix(while: { $0 != "=" }))'")
                }
                properties[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
            }
            var logger = Logger(label: "kafka") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = .warning
            do {
                try LibRdKafka.checkMinimumVersion()
                let admin = try KafkaAdmin(
                    bootstrapServers: self.bootstrapServers.split(separator: ",").map(String.init),
                    properties: properties,
                    logger: logger
                )
                for name in self.names {
                    try await admin.createTopic(
                        name,
                        partitions: self.partitions,
                        replicationFactor: self.replicationFactor
                    )
                    CLIOutput.write("\(name)\n")
                }
            } catch {
                CLIOutput.writeError("error: \(error)\n")
                throw ExitCode.failure
            }
        }
    }
}
