import CRdKafka

/// Facts about the librdkafka library loaded at run time.
public enum LibRdKafka {
    /// The oldest supported librdkafka, as `rd_kafka_version()` encodes it (0xMMmmrrxx): 2.2.0 final.
    ///
    /// Older 2.0.x releases mis-parse KIP-482 tagged fields (see DESIGN.md), so they cannot talk to Tansu; before
    /// 2.2.0 `rd_kafka_offsets_store` drops the metadata stored with an offset, where the worker's offset map rides.
    public static let minimumVersion = 0x0202_00ff

    /// The loaded library's version as text, for example `"2.8.0"` (`rd_kafka_version_str()`).
    public static var versionString: String { String(cString: rd_kafka_version_str()) }

    /// The loaded library's version as librdkafka encodes it: `0xMMmmrrxx` (`rd_kafka_version()`).
    public static var version: Int { Int(rd_kafka_version()) }

    /// Refuses to run on a librdkafka older than ``minimumVersion``.
    ///
    /// Call it once at start-up; every client also checks it when it is created.
    /// - Throws: ``KafkaError`` with code `.libraryVersion` and a message saying how to install a newer library.
    public static func checkMinimumVersion() throws(KafkaError) {
        try checkMinimumVersion(version, versionString: versionString)
    }

    /// The comparison behind ``checkMinimumVersion()``, separate so it can be tested with any version number.
    /// - Parameters:
    ///   - version: A version encoded as `rd_kafka_version()` does.
    ///   - versionString: The text to show for it. Default: derived from `version`.
    /// - Throws: ``KafkaError`` with code `.libraryVersion` when `version` is older than ``minimumVersion``.
    public static func checkMinimumVersion(_ version: Int, versionString: String? = nil) throws(KafkaError) {
        guard version < minimumVersion else { return }
        let found = versionString ?? format(version)
        throw KafkaError(
            code: .libraryVersion,
            message: """
                librdkafka \(found) is too old: this program needs librdkafka \(format(minimumVersion)) or newer. \
                Run scripts/bootstrap.sh (or `make setup`) to build librdkafka 2.8.0 into /usr/local, then make \
                sure /usr/local/lib is searched first (ldconfig, or LD_LIBRARY_PATH=/usr/local/lib).
                """
        )
    }

    /// `0x020800ff` -> `"2.8.0"`.
    static func format(_ version: Int) -> String {
        "\((version >> 24) & 0xff).\((version >> 16) & 0xff).\((version >> 8) & 0xff)"
    }
}
