import CRdKafka

/// Builds `rd_kafka_conf_t` objects from property lists, and knows which properties are secret.
enum RDKafkaConfig {
    static let redacted = "[REDACTED]"

    /// Whether a property's value must never be shown: passwords, secrets, private keys, OAuth configuration.
    static func isSecret(_ key: String) -> Bool {
        let key = key.lowercased()
        return key.contains("password") || key.contains("secret") || key.contains("ssl.key.pem")
            || key.contains("oauthbearer.config") || key.hasSuffix(".key") || key.contains("credentials")
            || key.contains("token")
    }

    /// The non-empty values of secret properties, for scrubbing text that librdkafka produces.
    static func secretValues(_ properties: [(String, String)]) -> [String] {
        properties.compactMap { isSecret($0.0) && !$0.1.isEmpty ? $0.1 : nil }
    }

    /// `key=value, ...` with secret values redacted.
    static func redactedDescription(_ properties: [(String, String)]) -> String {
        properties.map { "\($0.0)=\(isSecret($0.0) ? redacted : $0.1)" }.joined(separator: ", ")
    }

    /// Whole milliseconds, as librdkafka's `*.ms` properties want them.
    static func milliseconds(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return String(seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Creates a configuration object with every property set, in order.
    ///
    /// - Returns: A new `rd_kafka_conf_t`, owned by the caller until `rd_kafka_new` succeeds with it.
    /// - Throws: ``KafkaError`` `.config` naming the property (never its value) when librdkafka rejects one.
    static func make(_ properties: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        let conf = rd_kafka_conf_new()!
        let secrets = secretValues(properties)
        for (key, value) in properties {
            // An empty bootstrap list is fine when the mock cluster or a custom resolver supplies brokers.
            if key == "bootstrap.servers" && value.isEmpty { continue }
            if let failure = set(conf, key, value) {
                rd_kafka_conf_destroy(conf)
                // librdkafka's text may quote the value ("Invalid value "..." for ..."): leave it out. Short
                // values of ordinary properties ("0", "all") are kept: scrubbing them would mangle the text.
                let hidden = isSecret(key) || value.count >= 4 ? [value] : []
                let reason = scrub(scrub(failure, secrets: hidden), secrets: secrets)
                throw KafkaError(
                    code: .config,
                    message: "Configuration property \"\(key)\" could not be set: \(reason)"
                )
            }
        }
        return conf
    }

    /// Sets one property; returns librdkafka's explanation when it refuses.
    private static func set(_ conf: OpaquePointer, _ key: String, _ value: String) -> String? {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, key, value, &errstr, errstr.count)
        guard result != RD_KAFKA_CONF_OK else { return nil }
        return String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Replaces every occurrence of the given values in `text` with `[REDACTED]`.
    static func scrub(_ text: String, secrets: [String]) -> String {
        var text = text
        for secret in secrets where !secret.isEmpty && text.contains(secret) {
            text = text.replacing(secret, with: redacted)
        }
        return text
    }
}
