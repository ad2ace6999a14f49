import Foundation
import Kafka
import Testing

@testable import Worker

@Suite struct WorkerConfigurationTests {
    private func file(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    static let baseYAML = """
        kafka:
          bootstrap_servers: [127.0.0.1:9092, 127.0.0.1:9093]
          group_id: from-file
          properties: ["security.protocol=plaintext", "socket.timeout.ms=1000"]
        concurrency: 5
        ordering: per-key
        partials:
          interval: 250ms
          max_bytes: 2KiB
        topics:
          jobs: file.jobs
        gigachat:
          credentials: file-secret-key
          base_url: http://127.0.0.1:1/api/v1
        """

    @Test func flagsBeatTheEnvironmentWhichBeatsTheFile() async throws {
        let path = try file(Self.baseYAML)
        let configuration = try await WorkerConfiguration.load(
            WorkerConfigurationSources(
                file: path,
                environment: [
                    "GIGACHAT_WORKER_CONCURRENCY": "7", "GIGACHAT_WORKER_KAFKA_GROUP_ID": "from-env",
                    "GIGACHAT_WORKER_TOPICS_JOBS": "env.jobs", "GIGACHAT_MODEL": "GigaChat-2-Pro",
                    "GIGACHAT_API": "v2",
                ],
                flags: ["concurrency": "9"],
                kafkaPropertyFlags: ["socket.timeout.ms=2000", "linger.ms=1"]
            )
        )
        #expect(configuration.concurrency == 9)  // flag > env > file
        #expect(configuration.kafka.groupID == "from-env")  // env > file
        #expect(configuration.topics.jobs == "env.jobs")
        #expect(configuration.kafka.bootstrapServers == ["127.0.0.1:9092", "127.0.0.1:9093"])  // file
        #expect(configuration.ordering == .perKey)
        #expect(configuration.partialsInterval == .milliseconds(250))
        #expect(configuration.partialsMaxBytes == 2048)
        #expect(configuration.gigachat.model == "GigaChat-2-Pro")  // the SDK's variable name
        #expect(configuration.gigachat.api == .v2)
        #expect(configuration.gigachat.credentials == "file-secret-key")
        #expect(configuration.topics.effectiveDeadLetter == "env.jobs.DLT")
        // librdkafka properties merge across layers; later layers win per property.
        #expect(
            configuration.kafka.properties
                == ["security.protocol": "plaintext", "socket.timeout.ms": "2000", "linger.ms": "1"]
        )
        // The worker sizes the HTTP pool from its concurrency and retries attempts itself.
        #expect(configuration.effectiveGigaChat.maxConnections >= 9)
        #expect(configuration.effectiveGigaChat.retry.maxRetries == 0)
    }

    @Test func originsSayWhereEachValueCameFrom() async throws {
        let origins = try await WorkerConfiguration.origins(
            WorkerConfigurationSources(
                file: try file(Self.baseYAML),
                environment: ["GIGACHAT_WORKER_CONCURRENCY": "7"],
                flags: ["ordering": "unordered"]
            )
        )
        #expect(origins["concurrency"] == "environment")
        #expect(origins["ordering"] == "flag")
        #expect(origins["kafka.group_id"] == "file")
        #expect(origins["retry.max_attempts"] == "default")
    }

    @Test(arguments: [
        (["concurrency": "lots"], "concurrency", "a whole number"),
        (["concurrency": "0"], "concurrency", "1...10000"),
        (["ordering": "random"], "ordering", "unordered, per-key"),
        (["partials.interval": "soon"], "partials.interval", "duration"),
        (["kafka.assignment": "sticky"], "kafka.assignment", "cooperative-sticky"),
        (["topics.completions": "bad topic"], "topics.completions", "a-z"),
        (["kafka.bootstrap_servers": "localhost"], "kafka.bootstrap_servers", "host:port"),
        (["jobs.stream": "maybe"], "jobs.stream", "true or false"),
        (["flow.budget": "shared"], "flow.budget", "demand, partitions"),
        (["flow.lease": "200ms"], "flow.lease", "1 s ... 60 s"),
        (["topics.fleet": "gigachat.jobs"], "topics.fleet", "a topic of its own"),
    ])
    func invalidValuesNameTheKeyTheProblemAndWhatIsAllowed(flags: [String: String], key: String, allowed: String)
        async throws
    {
        var all = ["kafka.bootstrap_servers": "127.0.0.1:9092", "gigachat.credentials": "k"]
        all.merge(flags) { $1 }
        let error = await #expect(throws: WorkerConfigurationError.self) {
            _ = try await WorkerConfiguration.load(WorkerConfigurationSources(environment: [:], flags: all))
        }
        #expect(error?.key == key)
        #expect(error?.allowed.contains(allowed) == true, "\(String(describing: error))")
    }

    @Test func missingBrokersAndCredentialsAreReportedWithoutSecrets() async throws {
        let noBrokers = await #expect(throws: WorkerConfigurationError.self) {
            _ = try await WorkerConfiguration.load(WorkerConfigurationSources(environment: [:]))
        }
        #expect(noBrokers?.key == "kafka.bootstrap_servers")
        let noAuth = await #expect(throws: WorkerConfigurationError.self) {
            _ = try await WorkerConfiguration.load(
                WorkerConfigurationSources(environment: [:], flags: ["kafka.bootstrap_servers": "h:1"])
            )
        }
        #expect(noAuth?.key == "gigachat")
        let badURL = await #expect(throws: WorkerConfigurationError.self) {
            _ = try await WorkerConfiguration.load(
                WorkerConfigurationSources(
                    environment: ["GIGACHAT_CREDENTIALS": "super-secret-key-123", "GIGACHAT_BASE_URL": "ftp://x"],
                    flags: ["kafka.bootstrap_servers": "h:1"]
                )
            )
        }
        #expect(badURL.map { !"\($0)".contains("super-secret-key-123") } == true)
    }

    @Test func environmentNamesFollowTheKeys() {
        #expect(
            WorkerConfiguration.environmentName(of: "kafka.bootstrap_servers")
                == "GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS"
        )
        #expect(
            WorkerConfiguration.environmentName(of: "shutdown.drain_timeout")
                == "GIGACHAT_WORKER_SHUTDOWN_DRAIN_TIMEOUT"
        )
        #expect(WorkerConfiguration.environmentName(of: "gigachat.ca_bundle_file") == "GIGACHAT_CA_BUNDLE_FILE")
    }

    @Test func durationsTakeUnits() {
        #expect(ConfigurationLayers.parseDuration("250ms") == .milliseconds(250))
        #expect(ConfigurationLayers.parseDuration("5s") == .seconds(5))
        #expect(ConfigurationLayers.parseDuration("2m") == .seconds(120))
        #expect(ConfigurationLayers.parseDuration("1.5") == .milliseconds(1500))
        #expect(ConfigurationLayers.parseDuration("-1s") == nil)
        #expect(ConfigurationLayers.parseDuration("soon") == nil)
    }

    @Test func aMisspeltKeyFromAnySourceIsAnErrorNamingTheNearestKey() async throws {
        // Defect: each of these printed "configuration ok" and ran with the default.
        let base = ["kafka.bootstrap_servers": "127.0.0.1:9092", "gigachat.credentials": "k"]
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).yaml")
        try "concurrencyy: 5\nkafka:\n  group_id: g\n  properties:\n    security.protocol: PLAINTEXT\n"
            .write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let error = await #expect(throws: WorkerConfigurationError.self) {
            _ = try await WorkerConfiguration.load(
                WorkerConfigurationSources(
                    file: file.path,
                    environment: [
                        "GIGACHAT_WORKER_CONCURENCY": "4", "GIGACHAT_WORKER_LOG_LEVEL": "info", "GIGACHAT_OTHER": "x",
                    ],
                    flags: base.merging(["concurency": "5", "partials.interval": "soon"]) { $1 }
                )
            )
        }
        let problems = try #require(error).all
        let byKey = Dictionary(problems.map { ($0.key, $0.problem) }) { first, _ in first }
        #expect(byKey["concurency"]?.contains("did you mean concurrency?") == true, "\(problems)")
        #expect(byKey["concurrencyy"]?.contains("did you mean concurrency?") == true, "\(problems)")
        #expect(byKey["GIGACHAT_WORKER_CONCURENCY"]?.contains("did you mean GIGACHAT_WORKER_CONCURRENCY?") == true)
        // Every problem at once: the invalid value too; nothing for known keys, property maps or other programs' names.
        #expect(byKey["partials.interval"] != nil)
        #expect(problems.count == 4, "\(problems)")
        #expect("\(try #require(error))".contains("4 problems"))
    }

    @Test func kubernetesServiceLinksEmptySectionsAndTheBenchmarksVariableAreNotErrors() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString).yaml")
        try "gigachat:\nconcurrency: 3\n".write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let configuration = try await WorkerConfiguration.load(
            WorkerConfigurationSources(
                file: file.path,
                environment: [
                    "GIGACHAT_WORKER_SERVICE_HOST": "10.0.0.1", "GIGACHAT_WORKER_SERVICE_PORT": "9464",
                    "GIGACHAT_WORKER_SERVICE_PORT_METRICS": "9464", "GIGACHAT_WORKER_PORT": "tcp://10.0.0.1:9464",
                    "GIGACHAT_WORKER_PORT_9464_TCP_ADDR": "10.0.0.1", "GIGACHAT_WORKER_BIN": "/x",
                ],
                flags: ["kafka.bootstrap_servers": "127.0.0.1:9092", "gigachat.credentials": "k"]
            )
        )
        #expect(configuration.concurrency == 3)
        #expect(!UnknownKeys.isServiceLink("GIGACHAT_WORKER_PORTS"))
    }

    @Test func nearestKeysAreByEditDistance() {
        #expect(UnknownKeys.distance("concurency", "concurrency") == 1)
        #expect(UnknownKeys.distance("", "abc") == 3)
        #expect(UnknownKeys.distance("abc", "") == 3)
        #expect(UnknownKeys.distance("Kafka.Group_ID", "kafka.group_id") == 0)
    }
}
