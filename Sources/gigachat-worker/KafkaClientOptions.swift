import ArgumentParser
import Foundation

/// Kafka connection flags of the operator commands (`submit`, `collect`): brokers and any librdkafka property.
struct KafkaClientOptions: ParsableArguments {
    @Option(help: "Kafka brokers, host:port[,host:port] (default: env GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:9092).")
    var bootstrapServers: String?

    @Option(name: .customShort("X"), help: ArgumentHelp("A librdkafka property, e.g. -X security.protocol=SASL_SSL.", valueName: "key=value"))
    var kafkaProperties: [String] = []

    var servers: [String] {
        let text =
            bootstrapServers ?? ProcessInfo.processInfo.environment["GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS"]
            ?? "127.0.0.1:9092"
        return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    func properties() throws -> [String: String] {
        var properties: [String: String] = [:]
        for pair in kafkaProperties {
            guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else {
                throw ValidationError("-X takes key=value, got \"\(pair.prefix(while: { $0 != "=" }))\"")
            }
            properties[String(pair[..<equals])] = String(pair[pair.index(after: equals)...])
        }
        return properties
    }
}
