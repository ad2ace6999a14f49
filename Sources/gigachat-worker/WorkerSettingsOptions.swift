import ArgumentParser
import Worker

/// The worker's settings as flags, shared by `run` and `config`: a YAML file, the common keys, `--set` for every
/// key and `-X` for librdkafka properties.
struct WorkerSettingsOptions: ParsableArguments {
    @Option(help: "A YAML configuration file.")
    var config: String?

    @Option(help: "Kafka brokers, host:port[,host:port] (kafka.bootstrap_servers).")
    var bootstrapServers: String?

    @Option(help: "Consumer group (kafka.group_id).")
    var groupID: String?

    @Option(help: "Jobs topic (topics.jobs).")
    var jobsTopic: String?

    @Option(help: "Partials topic (topics.partials).")
    var partialsTopic: String?

    @Option(help: "Completions topic (topics.completions).")
    var completionsTopic: String?

    @Option(help: "Dead-letter topic (topics.dead_letter; default: the jobs topic + .DLT).")
    var deadLetterTopic: String?

    @Option(help: "GigaChat requests in flight at most (concurrency).")
    var concurrency: Int?

    @Option(help: "unordered or per-key (ordering).")
    var ordering: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Any setting as key=value, e.g. --set partials.interval=50ms.", valueName: "key=value"))
    var settings: [String] = []

    @Option(name: .customShort("X"), help: ArgumentHelp("A librdkafka property for both clients, e.g. -X security.protocol=SASL_SSL.", valueName: "key=value"))
    var kafkaProperties: [String] = []

    func validate() throws {
        for setting in settings where !setting.contains("=") {
            throw ValidationError("--set takes key=value, got \"\(setting)\"")
        }
        for property in kafkaProperties where !property.contains("=") {
            throw ValidationError("-X takes key=value, got \"\(property)\"")
        }
    }

    /// The flags as configuration keys.
    var flagValues: [String: String] {
        var values: [String: String] = [:]
        for setting in settings {
            let parts = setting.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values[String(parts[0])] = String(parts[1])
        }
        let typed: [(String, String?)] = [
            ("kafka.bootstrap_servers", bootstrapServers), ("kafka.group_id", groupID), ("topics.jobs", jobsTopic),
            ("topics.partials", partialsTopic), ("topics.completions", completionsTopic),
            ("topics.dead_letter", deadLetterTopic), ("concurrency", concurrency.map(String.init)),
            ("ordering", ordering),
        ]
        for case (let key, let value?) in typed { values[key] = value }
        return values
    }


    /// The file, the environment and these flags, for ``WorkerConfiguration/load(_:)``.
    var sources: WorkerConfigurationSources {
        WorkerConfigurationSources(file: config, flags: flagValues, kafkaPropertyFlags: kafkaProperties)
    }
}
