import Foundation
import Kafka
import Logging
import Metrics
import Synchronization

/// The fleet topic: where the workers that share one GigaChat account report what they want and hold, and read
/// each other's reports (``FleetView``), so that each computes its share of the account (``FleetShare``).
///
/// - **Reports** are keyed by the member's id (unique per process) on a one-partition topic, compacted and with a
///   retention, so the topic stays small whatever the fleet's churn. A report goes out when the member's want, in
///   flight or limit changed (checked every 100 ms, and at once on a report read or a unit given back that another
///   member waits for), when another member's rise waits for this member to say it read it, and at least every
///   `interval` as a heartbeat; a graceful stop sends a last one that says it left. Each says how far its member has
///   read the topic (``FleetView/Report/read``).
/// - **Reading** assigns the partition without a group (every worker reads every report; a group's join would cost
///   seconds), starting at the reports of the last lease, so a worker that starts knows the live fleet before it
///   takes a unit. The consumer's group id is never joined and nothing is committed for it.
final class FleetChannel: Sendable {
    struct Settings: Sendable {
        var topic: String
        var memberID: String
        var lease: Duration
        /// The longest time between two reports.
        var interval: Duration { min(.seconds(1), lease / 3) }
    }

    private struct Published {
        var member: FleetMember?
        var at: ContinuousClock.Instant?
        var sequence: Int64 = 0
        var lastFailureLog: ContinuousClock.Instant?
        /// The last report said this worker left: nothing more goes out (the producer closes next).
        var left = false
        /// An acknowledgement held back by the 20 ms spacing is due then (a refresh is scheduled for it).
        var acknowledgementDue: ContinuousClock.Instant?
    }

    let settings: Settings
    private let kafka: WorkerConfiguration.Kafka
    private let consumer: KafkaConsumer
    private let producer: KafkaProducer
    private let view: Mutex<FleetView>
    private let published = Mutex(Published())
    private let onChange = Mutex<(@Sendable () -> Void)?>(nil)
    private let logger: Logger
    /// Counts the reports sent.
    private let reports: Counter

    init(
        settings: Settings,
        kafka: WorkerConfiguration.Kafka,
        producer: KafkaProducer,
        reports: Counter,
        logger: Logger
    ) throws {
        self.settings = settings
        self.reports = reports
        self.kafka = kafka
        self.producer = producer
        self.logger = logger
        let interval = settings.interval
        // Warm-up: a report interval, and a margin for a busy member's heartbeat to arrive.
        view = Mutex(
            FleetView(
                me: settings.memberID,
                lease: settings.lease,
                fence: settings.lease - interval,
                warmUp: interval + .milliseconds(300)
            )
        )
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: kafka.bootstrapServers,
            groupID: "\(kafka.groupID).fleet"
        )
        configuration.clientID = kafka.clientID
        configuration.autoOffsetReset = .latest
        configuration.messageBufferCapacity = 1_000
        configuration.messageBufferBytes = 1 << 20
        configuration.properties = kafka.properties.merging(kafka.consumerProperties) { $1 }
        // Reports are read as they come. Apache Kafka answers a waiting fetch as soon as a record arrives; some
        // brokers (Tansu among them) wait out `fetch.wait.max.ms`, and a hand-off waits for that read: 25 ms keeps it
        // short there (8 workers finished a batch 0.3 s after one worker with 100 ms, 0.1 s with 25 ms), at up to 40
        // small fetches a second per idle worker.
        configuration.properties["fetch.wait.max.ms"] = configuration.properties["fetch.wait.max.ms"] ?? "25"
        consumer = try KafkaConsumer(configuration: configuration, logger: logger)
    }

    /// Creates the fleet topic when missing (one partition, compacted, reports kept an hour), and reads it from the
    /// reports of the last lease (the live members' last ones among them), without a group's join. Compaction leaves
    /// the last minute alone: an acknowledgement (``FleetView/Report/read``) says its sender read every report before
    /// it, which holds only while none of a lease's reports is compacted away.
    func start() async {
        do {
            let admin = try KafkaAdmin(
                bootstrapServers: kafka.bootstrapServers,
                properties: kafka.properties,
                logger: logger
            )
            try await admin.createTopic(
                settings.topic,
                partitions: 1,
                configs: [
                    "cleanup.policy": "compact,delete", "retention.ms": "3600000", "segment.ms": "600000",
                    "min.compaction.lag.ms": "60000",
                ],
                timeout: .seconds(15)
            )
        } catch {
            // It may exist already, created by an operator who may create topics when this worker may not.
            logger.warning(
                "Could not create the fleet topic; using it as it is",
                metadata: ["topic": "\(settings.topic)", "error": "\(error)"]
            )
        }
        do {
            let start = Date().addingTimeInterval(-settings.lease.secondsDouble)
            try await consumer.assign([KafkaTopicPartition(topic: settings.topic, partition: 0)], startingAt: start)
        } catch {
            logger.error(
                "Could not read the fleet topic",
                metadata: ["topic": "\(settings.topic)", "error": "\(error)"]
            )
        }
    }

    /// Called with every report read (the flow controller recomputes its limit).
    func setOnChange(_ action: @escaping @Sendable () -> Void) {
        onChange.withLock { $0 = action }
    }

    /// Reads the fleet's reports until the consumer is closed.
    func run() async {
        do {
            for try await message in consumer.messages {
                guard let value = message.value, let report = FleetReportFormat.decode(value) else { continue }
                let now = ContinuousClock.now
                view.withLock { $0.observe(report, offset: message.offset, at: now) }
                onChange.withLock { $0 }?()
            }
        } catch {
            logger.error(
                "Reading the fleet topic failed",
                metadata: ["topic": "\(settings.topic)", "error": "\(error)"]
            )
        }
    }

    /// A worker's share of the account: its limit, why it may start nothing (then the limit is 0), and whether that
    /// is because its own reports stopped coming back.
    typealias Share = (limit: Int, blocked: String?, fenced: Bool)

    /// This worker's limit from its current state and the fleet's reports, or why it may start nothing (and
    /// whether that is because its own reports stopped coming back).
    func limit(of me: FleetMember, units: Int, step: Int, otherStep: Int?, now: ContinuousClock.Instant) -> Share {
        let (result, others, announced) = view.withLock { view -> (Share, [FleetMember], Int?) in
            if let blocked = view.blocked(at: now) { return ((0, blocked, view.isFenced(at: now)), [], nil) }
            let others = view.others(at: now)
            let announced = view.announcedWant(at: now)
            var limit = FleetShare.limit(
                of: me,
                announcedWant: announced,
                others: others,
                units: units,
                step: step,
                otherStep: otherStep,
                membersAgreed: view.membersAgreed(at: now)
            )
            // A lagging reader may not have seen another's rise: it keeps what it has and takes no more.
            if !view.isPrompt(at: now, interval: settings.interval) { limit = min(limit, me.limit) }
            return ((limit, nil, false), others, announced)
        }
        if logger.logLevel <= .debug, result.limit != me.limit {
            let members = others.map { "\($0.id):\($0.want)/\($0.inFlight)/\($0.limit)" }.joined(separator: " ")
            logger.debug(
                "Fleet share changed",
                metadata: [
                    "share": "\(result.limit)", "me": "\(me.want)/\(me.inFlight)/\(me.limit)",
                    "announced_want": "\(announced ?? -1)", "others": "\(members)", "step": "\(step)",
                ]
            )
        }
        return result
    }

    /// Whether a unit this worker gives up is worth a report at once rather than at the next tick: another member
    /// wants more than its limit (it waits for units), and the last report is 20 ms old or more (at most 50 such
    /// reports a second, whatever the job rate).
    func handOffWanted(now: ContinuousClock.Instant) -> Bool {
        let recent = published.withLock { published in published.at.map { now - $0 < .milliseconds(20) } ?? false }
        if recent { return false }
        return view.withLock { $0.anyoneWaiting(at: now) }
    }

    /// Reports this worker's state when it changed, when another member's rise waits for this worker to acknowledge
    /// it (at most every 20 ms: one held back comes 20 ms after the last report), or when the last report is
    /// `interval` old.
    func report(_ me: FleetMember, now: ContinuousClock.Instant) {
        let spacing = Duration.milliseconds(20)
        var retry: ContinuousClock.Instant?
        let failure = published.withLock { published -> (any Error)? in
            if published.left { return nil }
            if published.member == me, let at = published.at, now - at < settings.interval {
                guard view.withLock({ $0.owesAcknowledgement }) else { return nil }
                if now - at < spacing {
                    // Owed, and the last report is too recent: once per spacing, a refresh comes back for it.
                    if published.acknowledgementDue == nil {
                        published.acknowledgementDue = at + spacing
                        retry = at + spacing
                    }
                    return nil
                }
            }
            published.member = me
            published.at = now
            published.sequence += 1
            published.acknowledgementDue = nil
            // Under the lock: reports go on the wire in the order of their sequence.
            return send(FleetView.Report(member: me, sequence: published.sequence), now: now)
        }
        if let failure { logFailure(failure) }
        if let retry {
            Task { [weak self] in
                try? await Task.sleep(until: retry, clock: .continuous)
                guard let self else { return }
                self.published.withLock { $0.acknowledgementDue = nil }
                self.onChange.withLock { $0 }?()
            }
        }
    }

    /// Says this worker left (a graceful stop): the others count it out at once.
    func leave() {
        let now = ContinuousClock.now
        let me = FleetMember(id: settings.memberID, want: 0, inFlight: 0, limit: 0)
        let failure = published.withLock { published -> (any Error)? in
            published.left = true
            published.sequence += 1
            return send(FleetView.Report(member: me, sequence: published.sequence, left: true), now: now)
        }
        if let failure { logFailure(failure) }
    }

    /// Stops reading the reports.
    func close() async {
        do {
            try await consumer.close()
        } catch {
            logger.debug("Fleet consumer closed with an error", metadata: ["error": "\(error)"])
        }
    }

    /// Hands a report to the producer (called under `published`'s lock; the delivery report comes later, on the
    /// producer's thread). Always partition 0: the one every worker reads, whatever the topic's partition count.
    /// - Returns: Why it could not be handed over.
    private func send(_ report: FleetView.Report, now: ContinuousClock.Instant) -> (any Error)? {
        var report = report
        report.read = view.withLock { $0.sent(sequence: report.sequence, want: report.member.want, at: now) }
        let record = KafkaProducerRecord(
            topic: settings.topic,
            partition: 0,
            key: Array(settings.memberID.utf8),
            value: FleetReportFormat.encode(report)
        )
        do {
            try producer.enqueue(record) { [weak self] result in
                if case .failure(let error) = result { self?.logFailure(error) }
            }
            reports.increment()
            return nil
        } catch {
            return error
        }
    }

    /// Logs a report that did not go out, at most every 30 s.
    private func logFailure(_ error: any Error) {
        let now = ContinuousClock.now
        let log = published.withLock { state -> Bool in
            guard state.lastFailureLog.map({ now - $0 > .seconds(30) }) ?? true else { return false }
            state.lastFailureLog = now
            return true
        }
        if log {
            logger.warning(
                "Fleet report not published; the fleet budget holds this worker at 0 while they fail",
                metadata: ["topic": "\(settings.topic)", "error": "\(error)"]
            )
        }
    }
}

/// The value of a report on the fleet topic: a small JSON object.
///
/// `{"member":"host-1/3fa2c1","want":12,"in_flight":10,"limit":10,"seq":417,"left":false,"read":5210}`
enum FleetReportFormat {
    private struct Wire: Codable {
        var member: String
        var want: Int
        var inFlight: Int
        var limit: Int
        var seq: Int64
        var left: Bool?
        var read: Int64?

        enum CodingKeys: String, CodingKey {
            case member, want, limit, seq, left, read
            case inFlight = "in_flight"
        }
    }

    static func encode(_ report: FleetView.Report) -> [UInt8] {
        let wire = Wire(
            member: report.member.id,
            want: report.member.want,
            inFlight: report.member.inFlight,
            limit: report.member.limit,
            seq: report.sequence,
            left: report.left,
            read: report.read
        )
        return Array((try? JSONEncoder().encode(wire)) ?? Data())
    }

    /// The report, or `nil` for a value that is not one (another program's record is ignored).
    static func decode(_ bytes: [UInt8]) -> FleetView.Report? {
        guard let wire = try? JSONDecoder().decode(Wire.self, from: Data(bytes)) else { return nil }
        return FleetView.Report(
            member: FleetMember(id: wire.member, want: wire.want, inFlight: wire.inFlight, limit: wire.limit),
            sequence: wire.seq,
            left: wire.left ?? false,
            read: wire.read
        )
    }
}
