import Foundation
import Yams

/// Finds settings that no key names: a misspelt key would otherwise be ignored and its default used.
///
/// Checked in every source: flags and `--set` (by key), the environment (`GIGACHAT_WORKER_*` names only: the
/// `GIGACHAT_*` names are the official SDK's, shared with other programs) and the YAML file (its mappings
/// flattened to dotted keys). Each unknown one is reported with the nearest valid key.
enum UnknownKeys {
    /// Environment names read by the executable itself rather than the configuration.
    static let executableEnvironment: Set<String> = [
        "GIGACHAT_WORKER_LOG_LEVEL", "GIGACHAT_WORKER_LOG_FORMAT", "GIGACHAT_WORKER_BIN",
    ]

    /// Whether `name` is one of the variables Kubernetes adds for a Service named `gigachat-worker`
    /// (`GIGACHAT_WORKER_SERVICE_HOST`, `_SERVICE_PORT…`, `_PORT`, `_PORT_9464_TCP…`): not settings, never errors.
    static func isServiceLink(_ name: String) -> Bool {
        let rest = name.dropFirst("GIGACHAT_WORKER_".count)
        if rest == "SERVICE_HOST" || rest == "PORT" || rest.hasPrefix("SERVICE_PORT") { return true }
        guard rest.hasPrefix("PORT_") else { return false }
        let parts = rest.split(separator: "_")
        return parts.count >= 3 && parts[1].allSatisfy(\.isNumber) && ["TCP", "UDP", "SCTP"].contains(parts[2])
    }
    /// Keys whose value is a librdkafka property map: any key below them is a property, not a setting.
    static let propertyMaps = ["kafka.properties", "kafka.consumer_properties", "kafka.producer_properties"]

    static func problems(in sources: WorkerConfigurationSources, fileText: String?) -> [WorkerConfigurationError] {
        let keys = WorkerConfiguration.keys
        let known = Set(keys)
        var problems: [WorkerConfigurationError] = []
        for key in sources.flags.keys.sorted() where !known.contains(key) {
            problems.append(unknown(key, origin: "a flag or --set", candidates: keys))
        }
        let environmentNames = keys.filter { !$0.hasPrefix("gigachat.") }.map(WorkerConfiguration.environmentName(of:))
        let knownNames = Set(environmentNames).union(executableEnvironment)
        for name in sources.environment.keys.sorted() where name.hasPrefix("GIGACHAT_WORKER_") && !knownNames.contains(name) && !isServiceLink(name) {
            problems.append(unknown(name, origin: "the environment", candidates: environmentNames + executableEnvironment.sorted()))
        }
        if let fileText, let node = try? Yams.compose(yaml: fileText) {
            for key in flattenedKeys(node) where !known.contains(key) && !propertyMaps.contains(where: { key.hasPrefix($0 + ".") }) {
                problems.append(unknown(key, origin: "the YAML file", candidates: keys))
            }
        }
        return problems
    }

    private static func unknown(_ key: String, origin: String, candidates: [String]) -> WorkerConfigurationError {
        let nearest = candidates.min { distance(key, $0) < distance(key, $1) } ?? ""
        return WorkerConfigurationError(
            key: key,
            problem: "is not a setting (in \(origin)); did you mean \(nearest)?",
            allowed: "the keys listed by `gigachat-worker config print`"
        )
    }

    /// The dotted keys of a YAML document's leaves (scalars and sequences).
    static func flattenedKeys(_ node: Node, prefix: String = "") -> [String] {
        guard case .mapping(let mapping) = node else {
            // An empty section (`gigachat:` with its children commented out) sets nothing.
            if case .scalar(let scalar) = node, scalar.string.isEmpty || scalar.string == "~" || scalar.string == "null" {
                return []
            }
            return prefix.isEmpty ? [] : [prefix]
        }
        var keys: [String] = []
        for (key, value) in mapping {
            guard let name = key.string else { continue }
            let path = prefix.isEmpty ? name : prefix + "." + name
            keys += flattenedKeys(value, prefix: path)
        }
        return keys
    }

    /// The edit distance between two keys, ignoring case (`concurency` is 1 from `concurrency`).
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased()), b = Array(b.lowercased())
        guard !a.isEmpty else { return b.count }
        guard !b.isEmpty else { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
