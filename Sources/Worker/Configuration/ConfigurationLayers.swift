import Configuration
import Foundation
import SystemPackage
import Synchronization

/// The three providers, highest precedence first, and typed reads that name the key when a value is invalid.
///
/// An invalid value is recorded in ``problems`` (and read as unset), not thrown, so that one load reports every
/// problem; settings no key names are recorded there too (``UnknownKeys``).
struct ConfigurationLayers {
    let reader: ConfigReader
    /// One reader per layer, for property lists (merged) and origins.
    let layers: [(name: String, reader: ConfigReader)]
    let environment: [String: String]
    let kafkaPropertyFlags: [String]
    /// What was wrong, in the order found.
    var problems: [WorkerConfigurationError] { log.problems.withLock { $0 } }
    private let log = ProblemLog()

    private final class ProblemLog: Sendable {
        let problems = Mutex<[WorkerConfigurationError]>([])
    }

    /// Records a problem.
    func record(_ problem: WorkerConfigurationError) {
        log.problems.withLock { $0.append(problem) }
    }

    init(_ sources: WorkerConfigurationSources) async throws {
        var flagValues: [AbsoluteConfigKey: ConfigValue] = [:]
        for (key, value) in sources.flags {
            let secret = WorkerConfiguration.secretKeys.contains(key)
            flagValues[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(
                .string(value),
                isSecret: secret
            )
        }
        let flags = InMemoryProvider(name: "flags", values: flagValues)
        let environment = EnvironmentVariablesProvider(
            environmentVariables: sources.environment,
            secretsSpecifier: .dynamic { name, _ in
                let upper = name.uppercased()
                return upper.contains("CREDENTIALS") || upper.contains("TOKEN") || upper.contains("PASSWORD")
                    || upper.contains("SECRET") || upper == "GIGACHAT_PROXY"
            }
        )
        // The worker's own keys live under GIGACHAT_WORKER_ in the environment; gigachat.* under the SDK's names.
        let prefixed = environment.mapKeys { key in
            key.components.first == "gigachat" ? key : key.prepending(["gigachat_worker"])
        }
        var layers: [(String, ConfigReader)] = [("flag", ConfigReader(provider: flags))]
        layers.append(("environment", ConfigReader(provider: prefixed)))
        var providers: [any ConfigProvider] = [flags, prefixed]
        var fileText: String?
        if let file = sources.file {
            guard FileManager.default.fileExists(atPath: file) else {
                throw WorkerConfigurationError(key: "--config", problem: "\(file) does not exist", allowed: "a YAML file")
            }
            let yaml: FileProvider<YAMLSnapshot>
            do {
                yaml = try await FileProvider<YAMLSnapshot>(
                    parsingOptions: .init(secretsSpecifier: .dynamic { key, _ in
                        WorkerConfiguration.secretKeys.contains(key)
                    }),
                    filePath: FilePath(file)
                )
            } catch {
                throw WorkerConfigurationError(
                    key: "--config",
                    problem: "\(file) is not valid YAML (\(error))",
                    allowed: "a YAML mapping of the keys in the README"
                )
            }
            providers.append(yaml)
            layers.append(("file", ConfigReader(provider: yaml)))
            fileText = try? String(contentsOfFile: file, encoding: .utf8)
        }
        self.reader = ConfigReader(providers: providers)
        self.layers = layers
        self.environment = sources.environment
        self.kafkaPropertyFlags = sources.kafkaPropertyFlags
        for problem in UnknownKeys.problems(in: sources, fileText: fileText) { record(problem) }
    }

    private static func configKey(_ key: String) -> ConfigKey {
        ConfigKey(key.split(separator: ".").map(String.init))
    }

    func string(_ key: String, isSecret: Bool = false) -> String? {
        guard let value = reader.string(forKey: Self.configKey(key), isSecret: isSecret) else { return nil }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// A list: a YAML sequence, or a comma-separated string.
    func list(_ key: String) -> [String]? {
        if let text = string(key) {
            return text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        return reader.stringArray(forKey: Self.configKey(key))
    }

    func int(_ key: String) -> Int? {
        guard let text = string(key) else { return nil }
        let cleaned = text.replacingOccurrences(of: "_", with: "")
        if let number = Int(cleaned) { return number }
        // Byte sizes may carry a unit.
        for (suffix, factor) in [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)] where cleaned.hasSuffix(suffix) {
            if let number = Int(cleaned.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)) {
                return number * factor
            }
        }
        record(WorkerConfigurationError(key: key, problem: "is \"\(text)\"", allowed: "a whole number"))
        return nil
    }

    func double(_ key: String) -> Double? {
        guard let text = string(key) else { return nil }
        guard let number = Double(text), number.isFinite else {
            record(WorkerConfigurationError(key: key, problem: "is \"\(text)\"", allowed: "a number"))
            return nil
        }
        return number
    }

    func bool(_ key: String) -> Bool? {
        guard let text = string(key) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default:
            record(WorkerConfigurationError(key: key, problem: "is \"\(text)\"", allowed: "true or false"))
            return nil
        }
    }

    /// A duration: `250ms`, `5s`, `2m`, `1h`, or a number of seconds.
    func duration(_ key: String) -> Duration? {
        guard let text = string(key) else { return nil }
        guard let duration = Self.parseDuration(text) else {
            record(WorkerConfigurationError(
                key: key,
                problem: "is \"\(text)\"",
                allowed: "a duration such as 250ms, 5s, 2m, 1h, or a number of seconds"
            ))
            return nil
        }
        return duration
    }

    static func parseDuration(_ text: String) -> Duration? {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
        var number = text
        var factor = 1.0
        for (suffix, unitFactor) in units where text.hasSuffix(suffix) {
            let head = String(text.dropLast(suffix.count))
            // "ms" also ends with "s": take the longest unit that leaves a number.
            if Double(head) != nil {
                number = head
                factor = unitFactor
                break
            }
        }
        guard let value = Double(number.trimmingCharacters(in: .whitespaces)), value >= 0, value.isFinite else {
            return nil
        }
        return .milliseconds(Int64((value * factor * 1000).rounded()))
    }

    /// librdkafka properties (`key=value` items) merged over the layers, file first, flags (and `extra`) last.
    func properties(_ key: String, extra: [String] = []) -> [String: String] {
        var result: [String: String] = [:]
        var items: [String] = []
        for layer in layers.reversed() {
            if let text = layer.reader.string(forKey: Self.configKey(key), isSecret: true) {
                items += text.split(separator: ",").map(String.init)
            } else if let array = layer.reader.stringArray(forKey: Self.configKey(key), isSecret: true) {
                items += array
            }
        }
        for item in items + extra {
            let trimmed = item.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            guard let equals = trimmed.firstIndex(of: "="), equals != trimmed.startIndex else {
                record(WorkerConfigurationError(
                    key: key,
                    problem: "has an item without key=value",
                    allowed: "librdkafka properties as key=value"
                ))
                continue
            }
            result[String(trimmed[..<equals])] = String(trimmed[trimmed.index(after: equals)...])
        }
        return result
    }

    /// The first layer that sets `key`, or `default`.
    func origin(of key: String) -> String {
        for layer in layers {
            if layer.reader.string(forKey: Self.configKey(key)) != nil
                || layer.reader.stringArray(forKey: Self.configKey(key)) != nil
            {
                return layer.name
            }
        }
        if key == "kafka.properties" && !kafkaPropertyFlags.isEmpty { return "flag" }
        return "default"
    }
}
