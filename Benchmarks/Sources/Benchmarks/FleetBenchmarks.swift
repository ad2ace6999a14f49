import Foundation
import GigaChatEmulator
import Kafka
import Logging

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

#if canImport(Glibc)
    import Glibc
#endif

/// `fleet`: fleets of worker processes (release build) in one group against one emulated account with a stream
/// limit (10, or `FLEET_BENCH_LIMIT`) and 2 s answers: how busy the fleet keeps the account, and how many calls get
/// 429.
///
/// As a user runs it (the default, `FLEET_BENCH_MODE=backlog`): the jobs are produced first, keyed by id with the
/// producer's default partitioner (so partitions get unequal backlogs), then the workers start; measured from the
/// first GigaChat call to the last answer. `FLEET_BENCH_MODE=settled`: the workers settle first and the jobs are
/// spread evenly over the partitions (the ideal case). A last run adds a worker after 20 s and stops the first
/// with SIGTERM after 40 s (`FLEET_BENCH_CHURN`: its starting size, 3; 0 leaves it out). `FLEET_BENCH_BUDGET=partitions`
/// measures the budget laid on partitions instead of the one that follows demand.
enum FleetBenchmarks {
    static let all: [Benchmark] = [
        Benchmark(
            name: "fleet",
            summary:
                "account utilisation and 429 share for fleets of 1, 2, 4 and 8 workers and one that changes mid-run (limit 10, 2 s answers)",
            run: run
        )
    ]

    static let accountLimit = KafkaBenchmarks.environmentInt("FLEET_BENCH_LIMIT", default: 10)
    static let answer: Duration = .seconds(2)
    static let budget = ProcessInfo.processInfo.environment["FLEET_BENCH_BUDGET"] ?? "demand"
    /// `FLEET_BENCH_TIMELINE=1`: the account's streams sampled every 20 ms, and the stretches below the limit printed.
    static let timeline = ProcessInfo.processInfo.environment["FLEET_BENCH_TIMELINE"] == "1"
    static let backlogFirst = (ProcessInfo.processInfo.environment["FLEET_BENCH_MODE"] ?? "backlog") != "settled"

    static func run() async throws {
        let binary = try WorkerBenchmarks.workerBinary()
        let sizes = (ProcessInfo.processInfo.environment["FLEET_BENCH_SIZES"] ?? "1,2,4,8")
            .split(separator: ",").compactMap { Int($0) }
        let jobs = KafkaBenchmarks.environmentInt("FLEET_BENCH_JOBS", default: 300)
        let partitions = KafkaBenchmarks.environmentInt("FLEET_BENCH_PARTITIONS", default: 10)
        print(
            "-- \(jobs) jobs per fleet, \(partitions) partitions, account limit \(accountLimit), budget by \(budget), answers of 2 s "
                + "(ideal \(Double(accountLimit) / 2) jobs/s), "
                + (backlogFirst
                    ? "backlog produced first, keyed by id, then the workers start" : "settled fleet, even partitions")
        )
        for size in sizes {
            try await measure(workers: size, jobs: jobs, partitions: partitions, binary: binary)
        }
        // Membership changes while the batch runs: a worker added after 20 s, the first one stopped (SIGTERM) after
        // 40 s (`FLEET_BENCH_CHURN=0` leaves it out).
        let churn = ProcessInfo.processInfo.environment["FLEET_BENCH_CHURN"].flatMap { Int($0) } ?? 3
        if churn > 0 {
            try await measure(workers: churn, jobs: jobs, partitions: partitions, binary: binary, churn: true)
        }
    }

    static func measure(
        workers size: Int,
        jobs jobCount: Int,
        partitions: Int,
        binary: String,
        churn: Bool = false
    ) async throws {
        var logger = Logger(label: "benchmarks.fleet")
        logger.logLevel = .warning
        let broker = try await BenchmarkBroker.start()
        defer { broker.stop() }
        var emulatorConfiguration = GigaChatEmulatorConfiguration()
        emulatorConfiguration.timeToFirstToken = answer
        emulatorConfiguration.faults.concurrencyLimitPerToken = accountLimit
        let emulator = GigaChatEmulator(configuration: emulatorConfiguration)
        try await emulator.start()

        let suffix = UUID().uuidString.prefix(6).lowercased()
        let jobsTopic = "fleet-jobs-\(suffix)"
        let completionsTopic = "fleet-completions-\(suffix)"
        let admin = try KafkaAdmin(bootstrapServers: [broker.bootstrap], logger: logger)
        try await admin.createTopic(jobsTopic, partitions: Int32(partitions))
        try await admin.createTopic(completionsTopic, partitions: 3)
        try await admin.createTopic("fleet-partials-\(suffix)", partitions: 1)
        try await admin.createTopic(jobsTopic + ".DLT", partitions: 1)

        if backlogFirst {
            try await produce(
                jobCount,
                to: jobsTopic,
                partitions: partitions,
                bootstrap: broker.bootstrap,
                logger: logger
            )
            emulator.resetCounters()
        }
        var processes: [(process: Process, port: Int)] = []
        defer { for (process, _) in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        let basePort = 20_000 + Int.random(in: 0..<20_000)
        func spawn(_ index: Int) throws {
            let worker = Process()
            worker.executableURL = URL(fileURLWithPath: binary)
            worker.arguments = ["run"]
            worker.environment = [
                "GIGACHAT_WORKER_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
                "GIGACHAT_WORKER_KAFKA_GROUP_ID": "fleet-" + suffix,
                "GIGACHAT_WORKER_KAFKA_SESSION_TIMEOUT": "6s",
                "GIGACHAT_WORKER_TOPICS_JOBS": jobsTopic,
                "GIGACHAT_WORKER_TOPICS_COMPLETIONS": completionsTopic,
                "GIGACHAT_WORKER_TOPICS_PARTIALS": "fleet-partials-\(suffix)",
                "GIGACHAT_WORKER_METRICS_PORT": String(basePort + index),
                "GIGACHAT_WORKER_LOG_LEVEL": ProcessInfo.processInfo.environment["FLEET_BENCH_LOG_LEVEL"] ?? "warning",
                // `demand` (the default) or `partitions` (the budget laid on the partitions, for a comparison).
                "GIGACHAT_WORKER_FLOW_BUDGET": budget,
                "GIGACHAT_ACCOUNT_CONCURRENCY": String(accountLimit),
                "GIGACHAT_BASE_URL": emulator.baseURL,
                "GIGACHAT_AUTH_URL": emulator.authURL,
                "GIGACHAT_CREDENTIALS": Data("fleet:secret".utf8).base64EncodedString(),
                "LD_LIBRARY_PATH": ProcessInfo.processInfo.environment["LD_LIBRARY_PATH"] ?? "",
            ]
            // Any other worker setting from the bench's own environment (`GIGACHAT_WORKER_FLOW_LEASE=5s`, ...).
            for (key, value) in ProcessInfo.processInfo.environment where key.hasPrefix("GIGACHAT_WORKER_") {
                worker.environment?[key] = value
            }
            // The group's assignment strategy (`kafka.assignment`): the worker's default unless set.
            if let assignment = ProcessInfo.processInfo.environment["FLEET_BENCH_ASSIGNMENT"] {
                worker.environment?["GIGACHAT_WORKER_KAFKA_ASSIGNMENT"] = assignment
            }
            worker.standardOutput = FileHandle.standardError
            worker.standardError = FileHandle.standardError
            try worker.run()
            processes.append((worker, basePort + index))
        }
        for index in 0..<size { try spawn(index) }
        var settle = 0.0
        let start: ContinuousClock.Instant
        if backlogFirst {
            // Measured from the first call: the workers join onto the backlog as a scaled-out fleet does.
            let launched = ContinuousClock.now
            while emulator.counters.chatCalls == 0 {
                guard ContinuousClock.now - launched < .seconds(120) else {
                    throw BenchmarkError("the fleet of \(size) made no call in 120 s")
                }
                try await Task.sleep(for: .milliseconds(5))
            }
            start = .now
            settle = KafkaBenchmarks.seconds(of: start - launched)
            if timeline {
                print("  first call at \(Date())")
            }
        } else {
            // The group settles: every worker ready, the partitions all owned, for two seconds in a row.
            let settleStart = ContinuousClock.now
            var stableSince: ContinuousClock.Instant?
            while true {
                var owned = 0
                var ready = 0
                for (_, port) in processes {
                    guard let reason = try? await readiness(port: port) else { continue }
                    if reason.ready { ready += 1 }
                    owned += reason.partitions
                }
                if ready == size, owned == partitions {
                    if let since = stableSince, ContinuousClock.now - since >= .seconds(2) { break }
                    stableSince = stableSince ?? .now
                } else {
                    stableSince = nil
                }
                guard ContinuousClock.now - settleStart < .seconds(120) else {
                    throw BenchmarkError(
                        "the fleet of \(size) did not settle: \(ready) ready, \(owned) partitions owned"
                    )
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            settle = KafkaBenchmarks.seconds(of: ContinuousClock.now - settleStart)

            emulator.resetCounters()
            start = .now
            try await produce(
                jobCount,
                to: jobsTopic,
                partitions: partitions,
                bootstrap: broker.bootstrap,
                logger: logger
            )
        }
        var added = false
        var stopped = false
        var samples: [(at: Double, running: Int)] = []
        while emulator.counters.completedChats < jobCount {
            if timeline {
                samples.append((KafkaBenchmarks.seconds(of: ContinuousClock.now - start), emulator.counters.currentConcurrentChats))
            }
            guard ContinuousClock.now - start < .seconds(600) else {
                throw BenchmarkError("the fleet of \(size) did not finish")
            }
            if churn, !added, ContinuousClock.now - start >= .seconds(20) {
                try spawn(size)
                added = true
            }
            if churn, !stopped, ContinuousClock.now - start >= .seconds(40) {
                kill(processes[0].process.processIdentifier, SIGTERM)
                stopped = true
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        let elapsed = KafkaBenchmarks.seconds(of: ContinuousClock.now - start)
        let counters = emulator.counters
        var reports = 0.0
        for (process, port) in processes where process.isRunning {
            reports += (try? await metric("gigachat_worker_fleet_reports_total", port: port)) ?? 0
        }
        for (process, _) in processes { kill(process.processIdentifier, SIGTERM) }
        for (process, _) in processes { process.waitUntilExit() }

        if timeline { printShortfalls(samples) }
        let utilisation = counters.concurrentChatSeconds / elapsed / Double(accountLimit)
        let share = Double(counters.rateLimited) / Double(max(1, counters.chatCalls))
        let rate = Double(jobCount) / elapsed
        print(
            "workers \(size)\(churn ? " (+1 after 20 s, 1 stopped by SIGTERM after 40 s)" : ""): utilisation \(WorkerBenchmarks.fixed(utilisation, 3)), 429 \(counters.rateLimited) of "
                + "\(counters.chatCalls) calls (\(WorkerBenchmarks.fixed(share * 100, 2))%), "
                + "\(WorkerBenchmarks.fixed(rate, 2)) jobs/s over \(WorkerBenchmarks.fixed(elapsed, 2)) s "
                + "(\(backlogFirst ? "first call" : "settled") after \(WorkerBenchmarks.fixed(settle, 1)) s), "
                + "\(Int(reports)) fleet reports from the workers still running"
        )
        try await emulator.shutdown()
    }

    /// The stretches of a timeline where the account ran below its limit: when, how long, and the units missing.
    static func printShortfalls(_ samples: [(at: Double, running: Int)]) {
        var index = 0
        while index < samples.count {
            guard samples[index].running < accountLimit else {
                index += 1
                continue
            }
            let first = index
            var missing = 0.0
            while index < samples.count, samples[index].running < accountLimit {
                let next = index + 1 < samples.count ? samples[index + 1].at : samples[index].at
                missing += Double(accountLimit - samples[index].running) * (next - samples[index].at)
                index += 1
            }
            let from = samples[first].at
            let to = samples[min(index, samples.count - 1)].at
            let lowest = samples[first..<index].map(\.running).min() ?? 0
            print(
                "  below the limit \(WorkerBenchmarks.fixed(from, 2))-\(WorkerBenchmarks.fixed(to, 2)) s: "
                    + "lowest \(lowest), \(WorkerBenchmarks.fixed(missing, 2)) unit-seconds missing"
            )
        }
    }

    /// Produces the jobs and waits for every acknowledgement: keyed by id, spread by the producer's default
    /// partitioner (a backlog as any producer makes it), or evenly over the partitions for the settled case.
    static func produce(_ jobCount: Int, to jobsTopic: String, partitions: Int, bootstrap: String, logger: Logger)
        async throws
    {
        let producer = try KafkaProducer(
            configuration: KafkaProducerConfiguration(bootstrapServers: [bootstrap]),
            logger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<jobCount {
                let id = "fleet-\(index)"
                let value = "{\"id\":\"\(id)\",\"messages\":[{\"role\":\"user\",\"content\":\"fleet job \(index)\"}]}"
                let record = KafkaProducerRecord(
                    topic: jobsTopic,
                    partition: backlogFirst ? nil : Int32(index % partitions),
                    key: Array(id.utf8),
                    value: Array(value.utf8)
                )
                group.addTask { _ = try await producer.send(record) }
            }
            try await group.waitForAll()
        }
        await producer.close(timeout: .seconds(5))
    }

    /// A counter or gauge from a worker's `/metrics` (the sum over its label sets).
    static func metric(_ name: String, port: Int) async throws -> Double {
        try await WorkerBenchmarks.scrape(port: port).split(separator: "\n")
            .filter { $0.hasPrefix(name + " ") || $0.hasPrefix(name + "{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0, +)
    }

    /// A worker's `/readyz`: ready or not, and the partitions it says it owns.
    static func readiness(port: Int) async throws -> (ready: Bool, partitions: Int) {
        let (data, response) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/readyz")!)
        let text = String(decoding: data, as: UTF8.self)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        // "ready: 3 partitions assigned, ..."
        let partitions = text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status == 200, status == 200 ? partitions : 0)
    }
}
