import Foundation
import GigaChat
import GigaChatEmulator
import Kafka
import Logging
import ServiceLifecycle
import TestSupport
import Testing
import Worker

/// A broker (Tansu, or librdkafka's mock cluster where Tansu falls short), a GigaChat emulator and fresh topics
/// for one test; workers run in-process (``startWorker(_:)``) or as the built executable (``WorkerProcess``).
/// Fails, never skips, when the broker or the emulator cannot start.
struct WorkerTestBed: Sendable {
    /// Which broker a bed runs on.
    enum Broker: Sendable {
        /// A Tansu process (the default: a real broker over the network).
        case tansu(TansuBroker)
        /// librdkafka's mock cluster in the test process: it keeps the metadata committed with an offset, which
        /// Tansu 0.6 drops (the worker's offset map rides in it).
        case mockCluster(MockKafkaCluster)
    }

    enum BrokerKind: Sendable { case tansu, mockCluster }

    let broker: Broker
    /// `bootstrap.servers` of the broker.
    var bootstrap: String {
        switch broker {
        case .tansu(let tansu): tansu.bootstrap
        case .mockCluster(let mock): mock.bootstrapServers
        }
    }
    /// The Tansu broker, for tests that freeze it.
    var tansu: TansuBroker {
        guard case .tansu(let tansu) = broker else { preconditionFailure("this bed runs on the mock cluster") }
        return tansu
    }
    let emulator: GigaChatEmulator
    let topics: WorkerConfiguration.Topics
    let partitions: Int32
    let group: String
    /// An authorization key of this test alone (the process-wide token registry never mixes tests).
    let credentials: String

    static let logger: Logger = {
        var logger = Logger(label: "worker-integration-tests")
        logger.logLevel =
            ProcessInfo.processInfo.environment["WORKER_TEST_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) }
            ?? .warning
        return logger
    }()

    static func run<T: Sendable>(
        partitions: Int32 = 3,
        extraTopics: [String] = [],
        emulator emulatorConfiguration: GigaChatEmulatorConfiguration = .init(),
        on brokerKind: BrokerKind = .tansu,
        _ body: (WorkerTestBed) async throws -> T
    ) async throws -> T {
        switch brokerKind {
        case .tansu:
            try await withTansuBroker { tansu in
                try await run(.tansu(tansu), partitions, extraTopics, emulatorConfiguration, body)
            }
        case .mockCluster:
            try await run(.mockCluster(try MockKafkaCluster(brokers: 1)), partitions, extraTopics, emulatorConfiguration, body)
        }
    }

    private static func run<T: Sendable>(
        _ broker: Broker,
        _ partitions: Int32,
        _ extraTopics: [String],
        _ emulatorConfiguration: GigaChatEmulatorConfiguration,
        _ body: (WorkerTestBed) async throws -> T
    ) async throws -> T {
        let emulator = GigaChatEmulator(configuration: emulatorConfiguration)
        try await emulator.start()
        do {
            let suffix = UUID().uuidString.prefix(8).lowercased()
            var topics = WorkerConfiguration.Topics()
            topics.jobs = "jobs-\(suffix)"
            topics.partials = "partials-\(suffix)"
            topics.completions = "completions-\(suffix)"
            topics.deadLetter = "jobs-\(suffix).DLT"
            let outputs = [topics.partials, topics.completions, topics.effectiveDeadLetter] + extraTopics
            switch broker {
            case .tansu(let tansu):
                let admin = try KafkaAdmin(bootstrapServers: [tansu.bootstrap], logger: logger)
                try await admin.createTopic(topics.jobs, partitions: partitions)
                for topic in outputs { try await admin.createTopic(topic, partitions: 3) }
            case .mockCluster(let mock):
                try mock.createTopic(topics.jobs, partitions: partitions)
                for topic in outputs { try mock.createTopic(topic, partitions: 3) }
            }
            let bed = WorkerTestBed(
                broker: broker,
                emulator: emulator,
                topics: topics,
                partitions: partitions,
                group: "workers-\(suffix)",
                credentials: Data("client-\(suffix):secret-\(UUID().uuidString)".utf8).base64EncodedString()
            )
            let result = try await body(bed)
            try await emulator.shutdown()
            return result
        } catch {
            try? await emulator.shutdown()
            throw error
        }
    }

    /// A worker configuration for this bed: short session timeout (Tansu's join delay), fast retries and commits.
    func configuration(_ adjust: (inout WorkerConfiguration) -> Void = { _ in }) -> WorkerConfiguration {
        var configuration = WorkerConfiguration()
        configuration.kafka.bootstrapServers = [bootstrap]
        configuration.kafka.groupID = group
        configuration.kafka.sessionTimeout = .seconds(6)
        configuration.kafka.commitInterval = .milliseconds(200)
        configuration.topics = topics
        configuration.initialBackoff = .milliseconds(20)
        configuration.maxBackoff = .milliseconds(200)
        configuration.maxAttempts = 30
        configuration.gigachat.baseURL = emulator.baseURL
        configuration.gigachat.authURL = emulator.authURL
        configuration.gigachat.credentials = credentials
        configuration.workerID = "test-worker-\(UUID().uuidString.prefix(4))"
        adjust(&configuration)
        return configuration
    }

    /// The environment a worker process reads the same configuration from.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var environment = [
            "GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "GIGACHAT_WORKER_KAFKA_GROUP_ID": group,
            "GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT": "6s",
            "GIGACHAT_WORKER_KAFKA_COMMIT_INTERVAL": "200ms",
            "GIGACHAT_WORKER_TOPICS_JOBS": topics.jobs,
            "GIGACHAT_WORKER_TOPICS_PARTIALS": topics.partials,
            "GIGACHAT_WORKER_TOPICS_COMPLETIONS": topics.completions,
            "GIGACHAT_WORKER_TOPICS_DEAD_LETTER": topics.effectiveDeadLetter,
            "GIGACHAT_WORKER_RETRY_INITIAL_BACKOFF": "20ms",
            "GIGACHAT_WORKER_RETRY_MAX_BACKOFF": "200ms",
            "GIGACHAT_BASE_URL": emulator.baseURL,
            "GIGACHAT_AUTH_URL": emulator.authURL,
            "GIGACHAT_CREDENTIALS": credentials,
            "GIGACHAT_WORKER_LOG_LEVEL": "info",
            "GIGACHAT_WORKER_METRICS_PORT": "0",
        ]
        environment.merge(extra) { $1 }
        return environment
    }

    /// Starts an in-process worker (a ServiceGroup, as the executable runs it).
    func startWorker(_ configuration: WorkerConfiguration, failpoints: WorkerFailpoints = .init()) throws -> RunningWorker {
        try RunningWorker(configuration: configuration, logger: Self.logger, failpoints: failpoints)
    }

    /// Produces jobs and waits for every acknowledgement.
    /// - Returns: Where each job's record was stored, by job id.
    @discardableResult
    func produce(_ jobs: [TestJob], properties: [String: String] = [:]) async throws -> [String: KafkaRecordMetadata] {
        let producer = try testProducer(properties)
        var stored: [String: KafkaRecordMetadata] = [:]
        try await withThrowingTaskGroup(of: (String, KafkaRecordMetadata).self) { group in
            for job in jobs {
                let record = job.record(topic: topics.jobs)
                group.addTask { (job.id, try await producer.send(record)) }
            }
            for try await (id, metadata) in group { stored[id] = metadata }
        }
        await producer.close(timeout: .seconds(5))
        return stored
    }

    /// Produces raw records (malformed ones) and waits for the acknowledgements.
    func produceRaw(_ records: [KafkaProducerRecord], properties: [String: String] = [:]) async throws -> [KafkaRecordMetadata] {
        let producer = try testProducer(properties)
        var result: [KafkaRecordMetadata] = []
        for record in records { result.append(try await producer.send(record)) }
        await producer.close(timeout: .seconds(5))
        return result
    }

    /// A producer of the test's own (librdkafka `properties` on top, e.g. a larger `message.max.bytes`).
    private func testProducer(_ properties: [String: String]) throws -> KafkaProducer {
        var configuration = KafkaProducerConfiguration(bootstrapServers: [bootstrap])
        configuration.properties = properties
        return try KafkaProducer(configuration: configuration, logger: Self.logger)
    }

    /// A collector of every output topic (and `extraTopics`), reading from the beginning.
    func collector(extraTopics: [String] = []) throws -> OutputCollector {
        try OutputCollector(
            bootstrap: bootstrap,
            topics: [topics.completions, topics.partials, topics.effectiveDeadLetter] + extraTopics,
            partialsTopic: topics.partials,
            deadLetterTopic: topics.effectiveDeadLetter,
            logger: Self.logger
        )
    }

    /// The worker group's committed offsets for the jobs topic.
    func committedOffsets() async throws -> [Int32: Int64] {
        var configuration = KafkaConsumerConfiguration(bootstrapServers: [bootstrap], groupID: group)
        configuration.sessionTimeout = .seconds(6)
        let consumer = try KafkaConsumer(configuration: configuration, logger: Self.logger)
        let partitions = (0..<self.partitions).map { KafkaTopicPartition(topic: topics.jobs, partition: $0) }
        let committed = try await consumer.committed(partitions, timeout: .seconds(10))
        try await consumer.close()
        var result: [Int32: Int64] = [:]
        for (partition, offset) in committed { result[partition.partition] = offset }
        return result
    }

    /// Waits until the group's committed offsets reach `ends` (next offset per partition).
    func waitForCommits(reaching ends: [Int32: Int64], timeout: Duration = .seconds(20)) async throws -> [Int32: Int64] {
        let deadline = ContinuousClock.now + timeout
        var last: [Int32: Int64] = [:]
        while ContinuousClock.now < deadline {
            last = try await committedOffsets()
            if ends.allSatisfy({ last[$0.key] == $0.value }) { return last }
            try await Task.sleep(for: .milliseconds(300))
        }
        return last
    }

    /// Next offset to read per partition after the records in `stored`.
    static func ends(of stored: some Collection<KafkaRecordMetadata>) -> [Int32: Int64] {
        var ends: [Int32: Int64] = [:]
        for metadata in stored { ends[metadata.partition] = max(ends[metadata.partition] ?? 0, metadata.offset + 1) }
        return ends
    }
}

/// A worker running in this process inside a ServiceGroup with graceful shutdown.
final class RunningWorker: Sendable {
    let service: WorkerService
    private let group: ServiceGroup
    private let task: Task<Result<Void, any Error>, Never>

    init(configuration: WorkerConfiguration, logger: Logger, failpoints: WorkerFailpoints = .init()) throws {
        service = try WorkerService(configuration: configuration, logger: logger, failpoints: failpoints)
        group = ServiceGroup(configuration: ServiceGroupConfiguration(services: [.init(service: service)], logger: logger))
        let group = self.group
        task = Task {
            do {
                try await group.run()
                return .success(())
            } catch {
                return .failure(error)
            }
        }
    }

    /// Graceful shutdown (as SIGTERM); waits until the worker has stopped.
    func stop() async throws {
        await group.triggerGracefulShutdown()
        try await task.value.get()
    }
}
