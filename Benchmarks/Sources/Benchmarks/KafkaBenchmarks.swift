import Foundation
import Kafka
import Logging
import Synchronization

/// Kafka throughput against a real broker, side by side with kcat (same librdkafka, same broker, same records).
///
/// - Produce: N records of `KAFKA_BENCH_RECORD_SIZE` bytes, all acknowledged (acks=all, idempotence on both sides);
///   Swift enqueues every record then flushes; kcat reads them from a newline-delimited file (`-l`).
/// - Consume: N records from the beginning of one topic until the end; kcat `-C -e -o beginning -q`, Swift a group
///   consumer. Swift's consume time counts from its first record, because kcat -C does not join a group while
///   the Swift consumer waits for Tansu's JoinGroup (~3.1 s, printed separately); kcat's time is its whole process
///   (start-up and metadata included, about 20-50 ms).
/// - Each run uses a fresh Tansu (unless `KAFKA_BOOTSTRAP`) and alternates which tool goes first.
///
/// Environment: `KAFKA_BOOTSTRAP` (else a Tansu of its own per run), `KAFKA_BENCH_RECORDS` (200000),
/// `KAFKA_BENCH_RECORD_SIZE` (1024), `KAFKA_BENCH_PARTITIONS` (6), `KAFKA_BENCH_RUNS` (5; the median is reported).
enum KafkaBenchmarks {
    static let all: [Benchmark] = [
        Benchmark(
            name: "kafka",
            summary: "produce (acks=all) and consume throughput of 1 KiB records, Swift vs kcat",
            run: { try await run() }
        )
    ]

    struct Settings {
        var records = environmentInt("KAFKA_BENCH_RECORDS", default: 200_000)
        var recordSize = environmentInt("KAFKA_BENCH_RECORD_SIZE", default: 1024)
        var partitions = Int32(environmentInt("KAFKA_BENCH_PARTITIONS", default: 6))
        var runs = environmentInt("KAFKA_BENCH_RUNS", default: 5)
    }

    static func run() async throws {
        let settings = Settings()
        var logger = Logger(label: "benchmarks.kafka")
        logger.logLevel = .warning
        let external = ProcessInfo.processInfo.environment["KAFKA_BOOTSTRAP"].map { !$0.isEmpty } ?? false
        print(
            "\(settings.records) records x \(settings.recordSize) B, \(settings.partitions) partitions, "
                + "median of \(settings.runs) runs, librdkafka \(LibRdKafka.versionString), "
                + (external ? "broker KAFKA_BOOTSTRAP" : "a fresh Tansu per run")
        )

        let values = makeValues(count: settings.records, size: settings.recordSize)
        let recordsFile = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-bench-\(UUID()).txt")
        try writeLines(values, to: recordsFile)
        defer { try? FileManager.default.removeItem(at: recordsFile) }

        var rows: [(String, [Duration])] = [
            ("produce kcat", []), ("produce Swift", []), ("consume kcat", []), ("consume Swift", []),
        ]
        var joins: [Duration] = []
        for run in 1...settings.runs {
            // A fresh in-memory broker per run keeps earlier runs' data from slowing later ones.
            let broker = try await BenchmarkBroker.start()
            defer { broker.stop() }
            let kcatTopic = "bench-kcat-\(UUID().uuidString.prefix(8))"
            let swiftTopic = "bench-swift-\(UUID().uuidString.prefix(8))"
            do {
                // Scoped so the admin client is gone before the broker stops.
                let admin = try KafkaAdmin(bootstrapServers: [broker.bootstrap], logger: logger)
                try await admin.createTopic(kcatTopic, partitions: settings.partitions)
                try await admin.createTopic(swiftTopic, partitions: settings.partitions)
            }

            // Alternate which tool goes first, so neither always meets a warmer (or busier) broker.
            let kcatFirst = run % 2 == 1
            for tool in kcatFirst ? ["kcat", "Swift"] : ["Swift", "kcat"] {
                if tool == "kcat" {
                    rows[0].1.append(try await kcatProduce(broker: broker, topic: kcatTopic, file: recordsFile))
                } else {
                    rows[1].1.append(
                        try await swiftProduce(broker: broker, topic: swiftTopic, values: values, logger: logger)
                    )
                }
            }
            // Both consumers read the topic kcat wrote, so they read identical batches.
            for tool in kcatFirst ? ["kcat", "Swift"] : ["Swift", "kcat"] {
                if tool == "kcat" {
                    rows[2].1.append(
                        try await kcatConsume(broker: broker, topic: kcatTopic, expected: settings.records)
                    )
                } else {
                    let (consume, join) = try await swiftConsume(
                        broker: broker,
                        topic: kcatTopic,
                        expected: settings.records,
                        expectedBytes: settings.records * settings.recordSize,
                        logger: logger
                    )
                    rows[3].1.append(consume)
                    joins.append(join)
                }
            }
            let line = rows.map { "\($0.0) \(format($0.1.last!))" }.joined(separator: ", ")
            print("run \(run): \(line), Swift group join \(format(joins.last!))")
        }

        let megabytes = Double(settings.records * settings.recordSize) / 1_000_000
        print("")
        print("| benchmark     | time (s) | records/s | MB/s   |")
        print("|---------------|----------|-----------|--------|")
        var rates: [String: Double] = [:]
        for (name, durations) in rows {
            let seconds = median(durations)
            let rate = Double(settings.records) / seconds
            rates[name] = rate
            print(
                "| \(name.padding(toLength: 13, withPad: " ", startingAt: 0)) | "
                    + "\(String(format: "%8.3f", seconds)) | \(String(format: "%9.0f", rate)) | "
                    + "\(String(format: "%6.1f", megabytes / seconds)) |"
            )
        }
        let produceRatio = rates["produce Swift"]! / rates["produce kcat"]!
        let consumeRatio = rates["consume Swift"]! / rates["consume kcat"]!
        print("")
        print(
            String(
                format: "Swift/kcat records/s: produce %.1f%%, consume %.1f%% (goal >= 90%%)",
                produceRatio * 100,
                consumeRatio * 100
            )
        )
        print("Swift consumer group join (not in the consume time): median \(format(seconds: median(joins))) s")
    }

    // MARK: - kcat

    static func kcatProduce(broker: BenchmarkBroker, topic: String, file: URL) async throws -> Duration {
        let result = try await Command.run(
            Command.kcatPath,
            [
                "-P", "-b", broker.bootstrap, "-t", topic, "-X", "acks=all", "-X", "enable.idempotence=true", "-l",
                file.path,
            ]
        )
        guard result.status == 0 else {
            throw BenchmarkError("kcat -P exited with \(result.status): \(result.stderr)")
        }
        return result.elapsed
    }

    static func kcatConsume(broker: BenchmarkBroker, topic: String, expected: Int) async throws -> Duration {
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("kafka-bench-\(UUID()).out")
        defer { try? FileManager.default.removeItem(at: output) }
        let result = try await Command.run(
            Command.kcatPath,
            ["-C", "-b", broker.bootstrap, "-t", topic, "-e", "-o", "beginning", "-q"],
            stdout: output
        )
        guard result.status == 0 else {
            throw BenchmarkError("kcat -C exited with \(result.status): \(result.stderr)")
        }
        let lines = try Data(contentsOf: output).reduce(into: 0) { count, byte in count += byte == 0x0A ? 1 : 0 }
        guard lines == expected else {
            throw BenchmarkError("kcat consumed \(lines) records, expected \(expected)")
        }
        return result.elapsed
    }

    // MARK: - Swift

    static func swiftProduce(
        broker: BenchmarkBroker,
        topic: String,
        values: [[UInt8]],
        logger: Logger
    ) async throws -> Duration {
        var configuration = KafkaProducerConfiguration(bootstrapServers: [broker.bootstrap])
        configuration.properties["acks"] = "all"
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let counter = DeliveryCounter()
        let clock = ContinuousClock()
        let start = clock.now
        for value in values {
            let record = KafkaProducerRecord(topic: topic, value: value)
            while true {
                let error: KafkaError
                do {
                    try producer.enqueue(record) { result in counter.record(result) }
                    break
                } catch let thrown {
                    error = thrown
                }
                // librdkafka's queue (queue.buffering.max.messages, 100000) is full: wait for acks, as kcat does.
                guard error.code == .queueFull else { throw error }
                try await Task.sleep(for: .milliseconds(1))
            }
        }
        try await producer.flush(timeout: .seconds(120))
        let elapsed = clock.now - start
        let closing = clock.now
        await producer.close(timeout: .seconds(10))
        if verbose { print("  Swift producer close: \(format(clock.now - closing))") }
        let (delivered, failure) = counter.snapshot
        if let failure {
            throw BenchmarkError("Swift producer delivery failed: \(failure)")
        }
        guard delivered == values.count else {
            throw BenchmarkError("Swift producer delivered \(delivered) of \(values.count) records")
        }
        return elapsed
    }

    /// Returns the time from the first record to the last, and the time from subscribing to the first record.
    static func swiftConsume(
        broker: BenchmarkBroker,
        topic: String,
        expected: Int,
        expectedBytes: Int,
        logger: Logger
    ) async throws -> (consume: Duration, join: Duration) {
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: [broker.bootstrap],
            groupID: "bench-\(UUID().uuidString.prefix(8))"
        )
        configuration.sessionTimeout = .seconds(6)
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let clock = ContinuousClock()
        let subscribed = clock.now
        try consumer.subscribe(topics: [topic])
        var first: ContinuousClock.Instant?
        var count = 0
        var bytes = 0
        for try await message in consumer.messages {
            if first == nil { first = clock.now }
            count += 1
            bytes += message.value?.count ?? 0
            if count == expected { break }
        }
        let end = clock.now
        try await consumer.close()
        if verbose { print("  Swift consumer close: \(format(clock.now - end))") }
        guard count == expected, bytes == expectedBytes, let first else {
            throw BenchmarkError(
                "Swift consumer read \(count) records / \(bytes) B, expected \(expected) / \(expectedBytes)"
            )
        }
        return (end - first, first - subscribed)
    }

    // MARK: - Helpers

    /// Printable values without newlines (kcat's `-l` file is newline-delimited), each starting with its index.
    /// Filled from a fast seeded generator: per-byte system randomness would take minutes for 200 MB.
    static func makeValues(count: Int, size: Int) -> [[UInt8]] {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/".utf8)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var values: [[UInt8]] = []
        values.reserveCapacity(count)
        for index in 0..<count {
            var value = Array(String(format: "%010d", index).utf8.prefix(size))
            value.reserveCapacity(size)
            while value.count < size {
                // SplitMix64; 64 alphabet letters take 6 bits each.
                state &+= 0x9E37_79B9_7F4A_7C15
                var bits = state
                bits = (bits ^ (bits >> 30)) &* 0xBF58_476D_1CE4_E5B9
                bits = (bits ^ (bits >> 27)) &* 0x94D0_49BB_1331_11EB
                bits ^= bits >> 31
                for _ in 0..<10 where value.count < size {
                    value.append(alphabet[Int(bits & 63)])
                    bits >>= 6
                }
            }
            values.append(value)
        }
        return values
    }

    static func writeLines(_ values: [[UInt8]], to url: URL) throws {
        var data = Data()
        data.reserveCapacity(values.reduce(0) { $0 + $1.count + 1 })
        for value in values {
            data.append(contentsOf: value)
            data.append(0x0A)
        }
        try data.write(to: url)
    }

    static func median(_ durations: [Duration]) -> Double {
        let seconds = durations.map(seconds(of:)).sorted()
        return seconds[seconds.count / 2]
    }

    static func seconds(of duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func format(_ duration: Duration) -> String { format(seconds: seconds(of: duration)) + " s" }

    static func format(seconds: Double) -> String { String(format: "%.3f", seconds) }

    /// `KAFKA_BENCH_VERBOSE=1` prints the time spent outside the measured sections.
    static let verbose = ProcessInfo.processInfo.environment["KAFKA_BENCH_VERBOSE"] == "1"

    static func environmentInt(_ name: String, default value: Int) -> Int {
        ProcessInfo.processInfo.environment[name].flatMap(Int.init).flatMap { $0 > 0 ? $0 : nil } ?? value
    }
}

/// Counts delivery reports, which arrive on the producer's poll thread.
final class DeliveryCounter: Sendable {
    private let state = Mutex<(delivered: Int, failure: KafkaError?)>((0, nil))

    func record(_ result: Result<KafkaRecordMetadata, KafkaError>) {
        state.withLock { state in
            switch result {
            case .success: state.delivered += 1
            case .failure(let error): if state.failure == nil { state.failure = error }
            }
        }
    }

    var snapshot: (delivered: Int, failure: KafkaError?) { state.withLock { $0 } }
}
