import Foundation

/// Settings of a ``KafkaConsumer``.
///
/// Typed fields cover the common settings; `properties` passes any librdkafka property through and is applied
/// after them. `enable.auto.offset.store=false` and `enable.auto.commit` (from ``offsetCommit``) are always set,
/// after `properties`: offsets move only when the application commits or stores them. The description and
/// mirror redact secret property values.
public struct KafkaConsumerConfiguration: Sendable {
    /// Brokers to bootstrap from, as `host:port` (`bootstrap.servers`).
    public var bootstrapServers: [String]
    /// The consumer group (`group.id`).
    public var groupID: String
    /// The client id sent to brokers (`client.id`). Default: `nil` (librdkafka's `rdkafka`).
    public var clientID: String?
    /// Where to start without a committed offset (`auto.offset.reset`). Default: `.earliest`.
    public var autoOffsetReset: KafkaAutoOffsetReset
    /// How long the group waits for a silent member (`session.timeout.ms`). Default: `nil` (librdkafka's 45 s).
    /// Tests use 6 s: Tansu answers JoinGroup after about half of it.
    public var sessionTimeout: Duration?
    /// The longest gap between polls (`max.poll.interval.ms`). The poll thread never stops polling, so this
    /// only trips when the process is stuck. Default: `nil` (librdkafka's 300 s).
    public var maxPollInterval: Duration?
    /// The assignment strategy. Default: `.range` (librdkafka's default is `range,roundrobin`).
    public var partitionAssignment: KafkaPartitionAssignment
    /// How many fetched messages may wait for the application before all assigned partitions are paused
    /// (back-pressure); they resume when both bounds have drained to half. Default: 10000.
    ///
    /// The poll thread gathers no more than the room left, so a reader that keeps up with the broker pauses once
    /// every half of this. A pause drops what librdkafka had pre-fetched beyond the buffer, and after a resume
    /// librdkafka fetches again only when its broker thread next wakes, up to about a second later (measured with
    /// 2.8.0). A reader that drains the buffer faster than that (reading a long topic, not running jobs) should size
    /// both bounds so that half of them lasts a second of its reading, or it stalls at every resume.
    public var messageBufferCapacity: Int
    /// How many bytes of fetched messages (keys, values, headers) may wait for the application before all
    /// assigned partitions are paused. librdkafka's own pre-fetch queue (`queued.max.messages.kbytes`) comes on
    /// top. Default: 64 MiB.
    public var messageBufferBytes: Int
    /// Where assigned partitions start when set: at the first record whose timestamp is at or after this time
    /// (`rd_kafka_offsets_for_times` at each assignment), at the partition's end when none is, instead of the
    /// committed offset. Meant for a group of its own that reads a time range of a long topic (collecting
    /// results); when the lookup fails, the committed offset or `auto.offset.reset` applies. Default: `nil`.
    public var startTime: Date?
    /// How offsets are committed. Default: ``KafkaOffsetCommit/explicit``.
    public var offsetCommit: KafkaOffsetCommit
    /// Raw librdkafka properties, applied after the typed fields.
    public var properties: [String: String]

    /// Creates a configuration with the defaults above.
    /// - Parameters:
    ///   - bootstrapServers: Brokers to bootstrap from, as `host:port`.
    ///   - groupID: The consumer group to join.
    public init(bootstrapServers: [String], groupID: String) {
        self.bootstrapServers = bootstrapServers
        self.groupID = groupID
        self.clientID = nil
        self.autoOffsetReset = .earliest
        self.sessionTimeout = nil
        self.maxPollInterval = nil
        self.partitionAssignment = .range
        self.messageBufferCapacity = 10_000
        self.messageBufferBytes = 64 << 20
        self.offsetCommit = .explicit
        self.startTime = nil
        self.properties = [:]
    }

    /// Whether the effective `partition.assignment.strategy` (the typed field, or a property that overrides it) lists
    /// only cooperative strategies, so that the group rebalances incrementally.
    var usesCooperativeRebalancing: Bool {
        let strategies = rdKafkaProperties.last { $0.0 == "partition.assignment.strategy" }?.1 ?? "range,roundrobin"
        return strategies.split(separator: ",").allSatisfy {
            $0.trimmingCharacters(in: .whitespaces) == "cooperative-sticky"
        }
    }

    /// The librdkafka properties this configuration sets, in the order they are applied.
    var rdKafkaProperties: [(String, String)] {
        var result: [(String, String)] = [
            ("bootstrap.servers", bootstrapServers.joined(separator: ",")),
            ("group.id", groupID),
        ]
        if let clientID { result.append(("client.id", clientID)) }
        result.append(("auto.offset.reset", autoOffsetReset.rawValue))
        if let sessionTimeout { result.append(("session.timeout.ms", RDKafkaConfig.milliseconds(sessionTimeout))) }
        if let maxPollInterval {
            result.append(("max.poll.interval.ms", RDKafkaConfig.milliseconds(maxPollInterval)))
        }
        result.append(("partition.assignment.strategy", partitionAssignment.rdKafkaValue))
        result.append(contentsOf: properties.sorted { $0.key < $1.key })
        // Offsets move only when the application commits or stores them (DESIGN.md "Delivery guarantees").
        switch offsetCommit {
        case .explicit:
            result.append(("enable.auto.commit", "false"))
        case .storedOffsets(let interval):
            result.append(("enable.auto.commit", "true"))
            result.append(("auto.commit.interval.ms", RDKafkaConfig.milliseconds(interval)))
        }
        result.append(("enable.auto.offset.store", "false"))
        return result
    }
}

// MARK: - KafkaConsumerConfiguration + CustomStringConvertible

extension KafkaConsumerConfiguration: CustomStringConvertible, CustomReflectable {
    /// The settings with secret values replaced by `[REDACTED]`.
    public var description: String {
        "KafkaConsumerConfiguration(\(RDKafkaConfig.redactedDescription(rdKafkaProperties)))"
    }

    public var customMirror: Mirror {
        Mirror(self, children: ["properties": RDKafkaConfig.redactedDescription(rdKafkaProperties)])
    }
}
