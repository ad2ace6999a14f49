import Foundation
import GigaChat
import Kafka
import Logging
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// `worker`: the whole pipeline (Tansu, the emulator in a child process, `gigachat-worker run` as a release
/// binary) against the GigaChat client alone driving the same emulator at the same concurrency, in three settings;
/// then the worker's instructions per job under callgrind (`scripts/profile-worker.sh`, which repeats exactly where
/// CPU time does not). Ends with one table and issue 17's goals beside it.
///
/// Both sides are measured over the same steady window: from the quarter of the jobs answered to three quarters.
/// A window from the first answer to the last counted the first jobs' answers while most of their work (their
/// streams, at 1,000 in flight) came before it, and the tail's emptying slots after; it read 1.8 ms per streamed job
/// where a steady window read 2.2-2.6 ms (`scripts/measure-worker.sh`).
enum WorkerBenchmarks {
    static let all: [Benchmark] = [
        Benchmark(
            name: "worker",
            summary: "jobs/s, CPU per job per process, RSS and partial delay of the worker vs the client alone",
            run: run
        )
    ]

    struct Setting {
        var name: String
        /// `scripts/profile-worker.sh`'s mode for this setting's instructions per job, if it has one.
        var profileMode: String?
        var jobs: Int
        var concurrency: Int
        var stream: Bool
        var chunkCount: Int
        var chunkDelay: Duration
        /// The answer time the emulator is set to (for the ideal throughput).
        var answerTime: Duration
    }

    static func run() async throws {
        let binary = try workerBinary()
        let all = [
            Setting(
                name: "plain, zero latency, c=64",
                profileMode: "plain",
                jobs: KafkaBenchmarks.environmentInt("WORKER_BENCH_JOBS", default: 20_000),
                concurrency: KafkaBenchmarks.environmentInt("WORKER_BENCH_CONCURRENCY", default: 64),
                stream: false,
                chunkCount: 1,
                chunkDelay: .zero,
                answerTime: .zero
            ),
            Setting(
                name: "streamed, 170 events, zero latency, c=64",
                profileMode: "stream",
                jobs: KafkaBenchmarks.environmentInt("WORKER_BENCH_ZERO_STREAM_JOBS", default: 3000),
                concurrency: KafkaBenchmarks.environmentInt("WORKER_BENCH_CONCURRENCY", default: 64),
                stream: true,
                chunkCount: 170,
                chunkDelay: .zero,
                answerTime: .zero
            ),
            Setting(
                name: "streamed, 170 events 20 ms apart, 1,000 streams",
                jobs: KafkaBenchmarks.environmentInt("WORKER_BENCH_STREAM_JOBS", default: 3000),
                concurrency: KafkaBenchmarks.environmentInt("WORKER_BENCH_STREAM_CONCURRENCY", default: 1000),
                stream: true,
                chunkCount: 170,
                chunkDelay: .milliseconds(20),
                answerTime: .milliseconds(3380)
            ),
        ]
        // WORKER_BENCH_ONLY: the settings whose name holds this text (e.g. `1,000 streams`); default all.
        let only = ProcessInfo.processInfo.environment["WORKER_BENCH_ONLY"] ?? ""
        let settings = all.filter { only.isEmpty || $0.name.contains(only) }
        guard !settings.isEmpty else {
            throw BenchmarkError("WORKER_BENCH_ONLY=\(only) names none of: \(all.map(\.name).joined(separator: "; "))")
        }
        var rows: [Row] = []
        for setting in settings {
            rows.append(try await measure(setting, binary: binary))
        }
        if ProcessInfo.processInfo.environment["WORKER_BENCH_INSTRUCTIONS"] != "0" {
            for index in rows.indices {
                guard let mode = settings[index].profileMode else { continue }
                rows[index].instructionsPerJob = try instructionsPerJob(mode: mode, binary: binary)
            }
        }
        printTable(rows)
    }

    /// One setting's results.
    struct Row {
        var name: String
        var stream: Bool
        var jobsPerSecond: Double
        var workerCPUPerJob: Double
        var eventsPerJob: Double
        var instructionsPerJob: Double?
        var clientRequestsPerSecond: Double
        /// The client alone's CPU per request: what the same calls cost with no pipeline around them.
        var clientCPUPerRequest: Double
        /// Streamed settings: CPU per request of NIO reading the same streams and dropping the bytes (``ReadFloor``).
        var floorCPUPerRequest: Double?
        var peakRSSMiB: Double
        var partialP99: Double?
        var ratio: Double { jobsPerSecond / clientRequestsPerSecond }
    }

    static func printTable(_ rows: [Row]) {
        print("")
        print(
            "| setting | jobs/s | worker CPU/job | per event | instructions/job | client alone, req/s | client alone, CPU/req (per event) | NIO read floor, CPU/req (per event) | worker / client | peak RSS | partial p99 |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|---|")
        for row in rows {
            func perEvent(_ perJob: Double) -> String? {
                row.stream && row.eventsPerJob > 0 ? "\(fixed(perJob * 1000 / row.eventsPerJob, 1)) µs" : nil
            }
            func cpu(_ perRequest: Double) -> String {
                "\(fixed(perRequest, 3)) ms" + (perEvent(perRequest).map { " (\($0))" } ?? "")
            }
            let instructions = row.instructionsPerJob.map { String(format: "%.2f M", $0 / 1e6) } ?? "-"
            let partial = row.partialP99.map { "≤ \(fixed($0 * 1000, 0)) ms" } ?? "-"
            print(
                "| \(row.name) | \(fixed(row.jobsPerSecond, 0)) | \(fixed(row.workerCPUPerJob, 3)) ms | "
                    + "\(perEvent(row.workerCPUPerJob) ?? "-") | \(instructions) | \(fixed(row.clientRequestsPerSecond, 0)) | "
                    + "\(cpu(row.clientCPUPerRequest)) | \(row.floorCPUPerRequest.map(cpu) ?? "-") | \(fixed(row.ratio, 2)) | "
                    + "\(fixed(row.peakRSSMiB, 1)) MiB | \(partial) |"
            )
        }
        print(
            "goals (issue 17): streamed <= 1.0 ms CPU/job (<= 6 µs/event), plain <= 0.15 ms CPU/job, worker/client >= 0.8, "
                + "peak RSS <= 150 MB at 1,000 streams, partial p99 <= interval + 20 ms"
        )
    }

    /// The worker's instructions per job under callgrind (the difference between two runs: 100 and 400 plain jobs, or
    /// 20 and 80 streamed ones).
    static func instructionsPerJob(mode: String, binary: String) throws -> Double {
        print("-- instructions per job (\(mode)): scripts/profile-worker.sh \(mode) under callgrind, about a minute")
        let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/profile-worker.sh").path, mode]
        var environment = ProcessInfo.processInfo.environment
        environment["BIN"] = binary
        // A plain job is small beside start-up's noise: more of them (a streamed job is 170 events).
        environment["JOBS_SMALL"] = environment["JOBS_SMALL"] ?? (mode == "plain" ? "100" : "20")
        environment["JOBS_LARGE"] = environment["JOBS_LARGE"] ?? (mode == "plain" ? "400" : "80")
        process.environment = environment
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.standardError
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        print(text, terminator: "")
        guard process.terminationStatus == 0,
            let line = text.split(separator: "\n").first(where: { $0.contains("instructions per job") }),
            let number = line.split(separator: " ").dropFirst().first.map({ $0.replacingOccurrences(of: ",", with: "") }
            ),
            let value = Double(number)
        else {
            throw BenchmarkError("scripts/profile-worker.sh \(mode) failed (exit \(process.terminationStatus))")
        }
        return value
    }

    static func workerBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["GIGACHAT_WORKER_BIN"], !path.isEmpty { return path }
        let candidate = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            .deletingLastPathComponent().appendingPathComponent(".build/release/gigachat-worker").path
        guard FileManager.default.isExecutableFile(atPath: candidate) else {
            throw BenchmarkError(
                "no release gigachat-worker at \(candidate): run `swift build -c release` first or set GIGACHAT_WORKER_BIN"
            )
        }
        return candidate
    }

    static func measure(_ setting: Setting, binary: String) async throws -> Row {
        print("-- \(setting.name): \(setting.jobs) jobs of 1 KiB prompts, concurrency \(setting.concurrency)")
        var logger = Logger(label: "benchmarks.worker")
        logger.logLevel = .warning
        let broker = try await BenchmarkBroker.start()
        defer { broker.stop() }
        let emulator = try await GigaChatEmulatorProcess.start(
            chunkCount: setting.chunkCount,
            chunkDelay: setting.chunkDelay
        )
        defer { emulator.stop() }
        let suffix = UUID().uuidString.prefix(6).lowercased()
        let jobsTopic = "bench-jobs-\(suffix)"
        let completionsTopic = "bench-completions-\(suffix)"
        let partialsTopic = "bench-partials-\(suffix)"
        let admin = try KafkaAdmin(bootstrapServers: [broker.bootstrap], logger: logger)
        try await admin.createTopic(jobsTopic, partitions: 12)
        try await admin.createTopic(completionsTopic, partitions: 6)
        try await admin.createTopic(partialsTopic, partitions: 6)
        try await admin.createTopic(jobsTopic + ".DLT", partitions: 1)

        // The jobs are all in Kafka before the worker starts: the run measures the pipeline, not the producer.
        let prompt = String(repeating: "слово word ", count: 80)  // about 1 KiB of UTF-8
        try await produceJobs(
            count: setting.jobs,
            prompt: prompt,
            stream: setting.stream,
            topic: jobsTopic,
            broker: broker
        )

        let collector = try CompletionCounter(
            bootstrap: broker.bootstrap,
            topic: completionsTopic,
            expected: setting.jobs
        )
        let metricsPort = 20_000 + Int.random(in: 0..<20_000)
        let credentials = Data("bench:secret".utf8).base64EncodedString()
        let worker = Process()
        worker.executableURL = URL(fileURLWithPath: binary)
        worker.arguments = ["run"]
        var environment: [String: String] = [:]
        environment["GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
        environment["GIGACHAT_WORKER_KAFKA_GROUP_ID"] = "bench-" + suffix
        environment["GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT"] = "6s"
        environment["GIGACHAT_WORKER_TOPICS_JOBS"] = jobsTopic
        environment["GIGACHAT_WORKER_TOPICS_COMPLETIONS"] = completionsTopic
        environment["GIGACHAT_WORKER_TOPICS_PARTIALS"] = partialsTopic
        environment["GIGACHAT_WORKER_CONCURRENCY"] = String(setting.concurrency)
        environment["GIGACHAT_WORKER_BUFFER_MAX_JOBS"] = String(max(1000, setting.concurrency * 2))
        environment["GIGACHAT_WORKER_METRICS_PORT"] = String(metricsPort)
        environment["GIGACHAT_WORKER_LOG_LEVEL"] = "warning"
        environment["GIGACHAT_BASE_URL"] = emulator.baseURL
        environment["GIGACHAT_AUTH_URL"] = emulator.authURL
        environment["GIGACHAT_CREDENTIALS"] = credentials
        environment["LD_LIBRARY_PATH"] = ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"]
        // Optional: another coalescing interval for the streamed setting (default: the worker's 100 ms).
        if let interval = ProcessInfo.processInfo.environment["WORKER_BENCH_PARTIALS_INTERVAL"] {
            environment["GIGACHAT_WORKER_PARTIALS_INTERVAL"] = interval
        }
        worker.environment = environment
        worker.standardOutput = FileHandle.standardError
        worker.standardError = FileHandle.standardError
        let launched = ContinuousClock.now
        try worker.run()
        let pid = worker.processIdentifier
        defer { if worker.isRunning { kill(pid, SIGKILL) } }

        // The group join (~3.6 s on Tansu) is reported apart; the measured window is the steady middle half.
        let first = try await collector.waitForFirst(timeout: .seconds(60))
        let sample: () async throws -> [Double] = {
            [
                ProcessStats.cpuSeconds(pid) ?? 0, brokerCPUSeconds(broker), try await emulatorCPUSeconds(emulator),
                ProcessStats.selfCPUSeconds(),
            ]
        }
        let (opened, closed) = try await steadyWindow(of: setting.jobs, count: { collector.count }, cpu: sample)
        _ = try await collector.waitForAll(timeout: .seconds(600))
        let workerCPU: Double = closed.cpu[0] - opened.cpu[0]
        let brokerCPU: Double = closed.cpu[1] - opened.cpu[1]
        let emulatorCPU: Double = closed.cpu[2] - opened.cpu[2]
        // This process: the consumer counting completions (it shares the cores; the client alone has none).
        let counterCPU: Double = closed.cpu[3] - opened.cpu[3]
        let window = KafkaBenchmarks.seconds(of: closed.instant - opened.instant)
        let measured = closed.count - opened.count
        let jobsPerSecond = Double(measured) / window
        let peak = ProcessStats.peakRSS(pid) ?? 0
        let metrics = (try? await scrape(port: metricsPort)) ?? ""
        kill(pid, SIGTERM)
        worker.waitUntilExit()
        let exitStatus = worker.terminationStatus

        let jobs = Double(measured)
        let join: Double = KafkaBenchmarks.seconds(of: first - launched)
        let workerPerJob: Double = workerCPU * 1000 / jobs
        let emulatorPerJob: Double = emulatorCPU * 1000 / jobs
        let brokerPerJob: Double = brokerCPU * 1000 / jobs
        let counterPerJob: Double = counterCPU * 1000 / jobs
        let peakMiB: Double = Double(peak) / 1_048_576
        print(
            "worker:   \(fixed(jobsPerSecond, 0)) jobs/s over \(fixed(window, 2)) s (\(measured) jobs, the middle half; join \(fixed(join, 1)) s), exit \(exitStatus)"
        )
        print(
            "CPU/job:  worker \(fixed(workerPerJob, 3)) ms, emulator \(fixed(emulatorPerJob, 3)) ms, tansu \(fixed(brokerPerJob, 3)) ms, "
                + "the bench's completion counter \(fixed(counterPerJob, 3)) ms"
        )
        print("memory:   worker peak RSS \(fixed(peakMiB, 1)) MiB")
        if setting.answerTime > .zero {
            let ideal: Double = Double(setting.concurrency) / KafkaBenchmarks.seconds(of: setting.answerTime)
            let fraction: Double = jobsPerSecond / ideal
            print("ideal:    \(fixed(ideal, 0)) jobs/s (concurrency / answer time): \(fixed(fraction, 2)) of ideal")
        }
        var partialP99: Double?
        if setting.stream,
            let quantiles = histogramQuantiles(metrics, name: "gigachat_worker_partial_publish_delay_seconds")
        {
            let p50: Double = quantiles.0 * 1000
            let p99: Double = quantiles.1 * 1000
            let within: Double = quantiles.2 * 100
            partialP99 = quantiles.1
            print(
                "partials: chunk received -> partial acknowledged p50 <= \(fixed(p50, 0)) ms, p99 <= \(fixed(p99, 0)) ms (\(fixed(within, 2))% within 50 ms)"
            )
        }
        try await collector.close()

        // The client alone against the same emulator at the same concurrency.
        let client = try GigaChatClient(
            configuration: GigaChatConfiguration(
                baseURL: emulator.baseURL,
                authURL: emulator.authURL,
                credentials: credentials,
                retry: .init(maxRetries: 0),
                maxConnections: setting.concurrency + 4
            ),
            logger: logger
        )
        let request = ChatRequest(messages: [.user(prompt)])
        let failures = Tally()
        let firstFailure = FirstFailure()
        let next = Tally()
        let done = Arrivals()
        let events = Tally()
        let jobCount = setting.jobs
        let clientStart = ContinuousClock.now
        let clientWindowTask = Task {
            try await steadyWindow(
                of: jobCount,
                count: { done.snapshot.count },
                cpu: { [ProcessStats.selfCPUSeconds()] }
            )
        }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<setting.concurrency {
                group.addTask {
                    while next.take(below: setting.jobs) {
                        do {
                            if setting.stream {
                                // As the worker reads its streams: chunks handed over on the event loop.
                                try await client.stream(request) { _ in events.add() }
                            } else {
                                _ = try await client.chat(request)
                            }
                        } catch {
                            failures.add()
                            firstFailure.note(error)
                        }
                        done.arrived()
                    }
                }
            }
        }
        let (clientOpened, clientClosed) = try await clientWindowTask.value
        try await client.shutdown()
        let clientRequests = Double(clientClosed.count - clientOpened.count)
        let requestsPerSecond: Double =
            clientRequests / KafkaBenchmarks.seconds(of: clientClosed.instant - clientOpened.instant)
        let clientPerRequest: Double = (clientClosed.cpu[0] - clientOpened.cpu[0]) * 1000 / clientRequests
        let failed: Int = failures.value
        if let first = firstFailure.text { print("client:   first failure: \(first)") }
        // The first answer comes after one token call and the first streams: seconds here mean a slow token call.
        if let firstDone = done.snapshot.first {
            print(
                "client:   first call ended \(fixed(KafkaBenchmarks.seconds(of: firstDone - clientStart), 2)) s after the start"
            )
        }
        let ratio: Double = jobsPerSecond / requestsPerSecond
        print(
            "client:   \(fixed(requestsPerSecond, 0)) requests/s alone (\(failed) failed), \(fixed(clientPerRequest, 3)) ms CPU/request"
        )
        print("pipeline: worker jobs/s / client requests/s = \(fixed(ratio, 2))")
        var floor: ReadFloor.Result?
        if setting.stream {
            let result = try await ReadFloor.measure(
                emulator: emulator,
                credentials: credentials,
                prompt: prompt,
                connections: setting.concurrency,
                requests: setting.jobs
            )
            floor = result
            print(
                "floor:    NIO reading the same streams and dropping the bytes: \(fixed(result.requestsPerSecond, 0)) requests/s, "
                    + "\(fixed(result.cpuPerRequest, 3)) ms CPU/request"
            )
        }
        return Row(
            name: setting.name,
            stream: setting.stream,
            jobsPerSecond: jobsPerSecond,
            workerCPUPerJob: workerPerJob,
            eventsPerJob: Double(events.value) / Double(setting.jobs),
            clientRequestsPerSecond: requestsPerSecond,
            clientCPUPerRequest: clientPerRequest,
            floorCPUPerRequest: floor?.cpuPerRequest,
            peakRSSMiB: peakMiB,
            partialP99: partialP99
        )
    }

    /// When a count was first seen at or past a mark, and the CPU seconds of the processes measured then.
    struct Mark {
        var instant: ContinuousClock.Instant
        var count: Int
        var cpu: [Double]
    }

    /// The steady middle of a run of `total` jobs: marks when a quarter and when three quarters of them are done
    /// (`count` is polled every 2 ms; the CPU is sampled as each mark is seen).
    static func steadyWindow(
        of total: Int,
        count: () -> Int,
        cpu: () async throws -> [Double]
    ) async throws -> (opened: Mark, closed: Mark) {
        func mark(at threshold: Int) async throws -> Mark {
            let deadline = ContinuousClock.now + .seconds(600)
            while ContinuousClock.now < deadline {
                let seen = count()
                if seen >= threshold { return Mark(instant: .now, count: seen, cpu: try await cpu()) }
                try await Task.sleep(for: .milliseconds(2))
            }
            throw BenchmarkError("\(count()) of \(threshold) jobs done within 600 s")
        }
        let opened = try await mark(at: max(1, total / 4))
        return (opened, try await mark(at: max(opened.count + 1, total * 3 / 4)))
    }

    static func brokerCPUSeconds(_ broker: BenchmarkBroker) -> Double {
        guard let pid = broker.pid else { return 0 }
        return ProcessStats.cpuSeconds(pid) ?? 0
    }

    static func emulatorCPUSeconds(_ emulator: GigaChatEmulatorProcess) async throws -> Double {
        let counters: [String: Int] = try await emulator.counters()
        let microseconds: Int = counters["cpuMicroseconds"] ?? 0
        return Double(microseconds) / 1e6
    }

    static func fixed(_ value: Double, _ digits: Int) -> String {
        String(format: "%.\(digits)f", value)
    }

    static func produceJobs(count: Int, prompt: String, stream: Bool, topic: String, broker: BenchmarkBroker)
        async throws
    {
        var configuration = KafkaProducerConfiguration(bootstrapServers: [broker.bootstrap])
        configuration.linger = .milliseconds(20)
        var logger = Logger(label: "benchmarks.worker.producer")
        logger.logLevel = .warning
        let producer = try KafkaProducer(configuration: configuration, logger: logger)
        let reports = DeliveryCounter()
        let streamText = stream ? "true" : "false"
        for index in 0..<count {
            let id = "job-" + String(index)
            let value =
                "{\"id\":\"" + id + "\",\"stream\":" + streamText + ",\"messages\":[{\"role\":\"user\",\"content\":\""
                + prompt + " " + String(index) + "\"}]}"
            let record = KafkaProducerRecord(topic: topic, key: Array(id.utf8), value: Array(value.utf8))
            try await enqueue(record, producer: producer, reports: reports)
        }
        try await producer.flush(timeout: .seconds(120))
        await producer.close(timeout: .seconds(5))
    }

    /// Hands a record over, waiting while librdkafka's queue is full.
    static func enqueue(_ record: KafkaProducerRecord, producer: KafkaProducer, reports: DeliveryCounter) async throws {
        while true {
            do {
                try producer.enqueue(record) { reports.record($0) }
                return
            } catch {
                guard error.code == .queueFull else { throw error }
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }
    static func scrape(port: Int) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        return String(decoding: data, as: UTF8.self)
    }

    /// p50 and p99 upper bounds (the first bucket reaching the fraction) of a Prometheus histogram, and the fraction
    /// within 50 ms.
    static func histogramQuantiles(_ text: String, name: String) -> (Double, Double, Double)? {
        var buckets: [(Double, Double)] = []
        for line in text.split(separator: "\n") where line.hasPrefix(name + "_bucket{") {
            guard let leStart = line.range(of: "le=\""), let leEnd = line[leStart.upperBound...].firstIndex(of: "\""),
                let last = line.split(separator: " ").last, let count = Double(last)
            else { continue }
            let text = String(line[leStart.upperBound..<leEnd])
            let bound: Double = text == "+Inf" ? Double.infinity : (Double(text) ?? 0)
            buckets.append((bound, count))
        }
        buckets.sort { $0.0 < $1.0 }
        guard let total = buckets.last?.1, total > 0 else { return nil }
        func quantile(_ q: Double) -> Double { buckets.first { $0.1 >= q * total }?.0 ?? .infinity }
        let within50 = (buckets.first { $0.0 >= 0.05 }?.1 ?? 0) / total
        return (quantile(0.5), quantile(0.99), within50)
    }
}

/// Counts completions on a topic as they arrive.
final class CompletionCounter: Sendable {
    private let consumer: KafkaConsumer
    private let arrivals: Arrivals
    private let expected: Int
    private let task: Task<Void, Never>

    init(bootstrap: String, topic: String, expected: Int) throws {
        var configuration = KafkaConsumerConfiguration(
            bootstrapServers: [bootstrap],
            groupID: "counter-\(UUID().uuidString)"
        )
        configuration.sessionTimeout = .seconds(6)
        var logger = Logger(label: "benchmarks.worker.counter")
        logger.logLevel = .warning
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        try consumer.subscribe(topics: [topic])
        let arrivals = Arrivals()
        self.consumer = consumer
        self.arrivals = arrivals
        self.expected = expected
        task = Task {
            do {
                for try await _ in consumer.messages { arrivals.arrived() }
            } catch {}
        }
    }

    var count: Int { arrivals.snapshot.count }

    func waitForFirst(timeout: Duration) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let first = arrivals.snapshot.first { return first }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchmarkError("no completion within \(timeout)")
    }

    func waitForAll(timeout: Duration) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let snapshot = arrivals.snapshot
            if snapshot.count >= expected, let last = snapshot.last { return last }
            try await Task.sleep(for: .milliseconds(5))
        }
        throw BenchmarkError("\(count) of \(expected) completions within \(timeout)")
    }

    func close() async throws {
        try await consumer.close()
        await task.value
    }
}

/// How many records arrived, and when the first and the last did.
final class Arrivals: Sendable {
    struct Snapshot: Sendable {
        var count = 0
        var first: ContinuousClock.Instant?
        var last: ContinuousClock.Instant?
    }

    private let state = Mutex(Snapshot())

    func arrived() {
        state.withLock { state in
            state.count += 1
            let now = ContinuousClock.now
            if state.first == nil { state.first = now }
            state.last = now
        }
    }

    var snapshot: Snapshot { state.withLock { $0 } }
}

/// The first error of many, to say why calls failed.
final class FirstFailure: Sendable {
    private let first = Mutex<String?>(nil)

    var text: String? { first.withLock { $0 } }

    func note(_ error: any Error) { first.withLock { if $0 == nil { $0 = "\(error)" } } }
}

/// A counter shared by tasks.
final class Tally: Sendable {
    private let count = Mutex(0)

    var value: Int { count.withLock { $0 } }

    func add() { count.withLock { $0 += 1 } }

    /// Counts one more if the count is below `limit`.
    func take(below limit: Int) -> Bool {
        count.withLock { value in
            guard value < limit else { return false }
            value += 1
            return true
        }
    }
}
