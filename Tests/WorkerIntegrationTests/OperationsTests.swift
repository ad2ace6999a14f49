import Foundation
import GigaChatEmulator
import Kafka
import TestSupport
import Testing
import Worker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What an operator sees: `/metrics` as Prometheus parses it, and no secret anywhere.
@Suite("Worker operations: metrics and secrets", .serialized, .timeLimit(.minutes(3)))
struct OperationsTests {
    static var packageRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    static func scrape(port: Int) async throws -> String {
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/metrics")!)
        return String(decoding: data, as: UTF8.self)
    }

    /// Samples as `name{label="value",...}` -> value, parsed by prometheus_client's text-format parser (the test
    /// venv of scripts/bootstrap.sh); fails when the text is not valid exposition format.
    static func parse(_ text: String) async throws -> [String: Double] {
        let python = packageRoot.appendingPathComponent(".venv/bin/python").path
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw HarnessError("no Python venv at \(python); run scripts/bootstrap.sh")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let input = directory.appendingPathComponent("metrics.txt")
        let output = directory.appendingPathComponent("samples.json")
        try Data(text.utf8).write(to: input)
        let script = """
            import json, sys
            from prometheus_client.parser import text_string_to_metric_families
            samples = {}
            for family in text_string_to_metric_families(open(sys.argv[1]).read()):
                for s in family.samples:
                    labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                    samples[s.name + "{" + labels + "}"] = s.value
            json.dump(samples, open(sys.argv[2], "w"))
            """
        let process = try SpawnedProcess.start(
            python, ["-c", script, input.path, output.path],
            environment: ["PATH": "/usr/bin:/bin"],
            stdout: directory.appendingPathComponent("out.log").path,
            stderr: directory.appendingPathComponent("out.log").path
        )
        let status = await process.wait(timeout: .seconds(30))
        guard status == 0, let data = FileManager.default.contents(atPath: output.path),
            let samples = try JSONSerialization.jsonObject(with: data) as? [String: Double]
        else {
            let log = (try? String(contentsOf: directory.appendingPathComponent("out.log"), encoding: .utf8)) ?? ""
            throw HarnessError("prometheus_client could not parse /metrics: \(log)")
        }
        return samples
    }

    @Test func metricsParseAsPrometheusTextAndCountTheJobsRun() async throws {
        try await WorkerTestBed.run { bed in
            let collector = try bed.collector()
            let good = (0..<20).map { TestJob(id: "m-\($0)", prompt: "metrics \($0)", stream: $0 % 2 == 0) }
            try await bed.produce(good)
            // Two jobs GigaChat refuses (unknown model: 404) and three records that are not jobs.
            let refused = (0..<2).map { index in
                KafkaProducerRecord(
                    topic: bed.topics.jobs, key: Array("bad-model-\(index)".utf8),
                    value: Array(#"{"id":"bad-model-\#(index)","model":"NoSuchModel","messages":[{"role":"user","content":"x"}]}"#.utf8)
                )
            }
            let malformed = ["not json", "{\"id\":\"x\"}", "[]"].map {
                KafkaProducerRecord(topic: bed.topics.jobs, key: nil, value: Array($0.utf8))
            }
            try await bed.produceRaw(refused + malformed)
            let port = try TansuBroker.freePort()
            let worker = try WorkerProcess.start(environment: bed.environment(["GIGACHAT_WORKER_METRICS_PORT": "\(port)"]))
            #expect(try await collector.wait(timeout: .seconds(60)) { $0.completions.count >= 22 && $0.deadLetters.count >= 3 })
            // The lag gauge is refreshed every 5 s.
            try await Task.sleep(for: .seconds(6))
            let samples = try await Self.parse(try await Self.scrape(port: port))
            worker.kill(SIGTERM)
            #expect(await worker.wait(timeout: .seconds(40)) == 0)

            #expect(samples[#"gigachat_worker_jobs_total{status="ok"}"#] == 20, "\(samples.keys.sorted())")
            #expect(samples[#"gigachat_worker_jobs_total{status="failed"}"#] == 2)
            #expect(samples[#"gigachat_worker_jobs_total{status="dead_lettered"}"#] == 3)
            #expect(samples[#"gigachat_requests_total{endpoint="chat",status="200"}"#] == 20)
            #expect(samples[#"gigachat_requests_total{endpoint="chat",status="404"}"#] == 2)
            #expect((samples[#"gigachat_requests_total{endpoint="oauth",status="200"}"#] ?? 0) >= 1)
            #expect(samples["gigachat_worker_jobs_in_flight{}"] == 0)
            #expect(samples["gigachat_worker_partitions_assigned{}"] == 3)
            #expect(samples["gigachat_worker_concurrency_limit{}"] == 10)
            #expect(samples["gigachat_worker_circuit_open{}"] ?? 0 == 0)
            #expect(samples["gigachat_worker_job_duration_seconds_count{}"] == 22)
            #expect(samples["gigachat_worker_time_to_first_token_seconds_count{}"] == 20)
            #expect((samples[#"gigachat_worker_tokens_total{kind="prompt"}"#] ?? 0) > 0)
            let lag = samples.filter { $0.key.hasPrefix("gigachat_worker_consumer_lag{") }
            #expect(lag.count == 3 && lag.values.allSatisfy { $0 == 0 }, "\(lag)")
            try await collector.close()
        }
    }

    @Test func credentialsAndTokensAppearInNoLogMetricOutputOrError() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.tokenLifetime = .seconds(4)  // refreshes and 401 retries on the way
        emulator.faults.tokenExpiryReportedLate = .seconds(2)
        try await WorkerTestBed.run(emulator: emulator) { bed in
            let collector = try bed.collector()
            var outputs: [String] = []
            for format in ["json", "text"] {
                let port = try TansuBroker.freePort()
                let worker = try WorkerProcess.start(
                    environment: bed.environment([
                        "GIGACHAT_WORKER_LOG_LEVEL": "trace", "GIGACHAT_WORKER_LOG_FORMAT": format,
                        "GIGACHAT_WORKER_METRICS_PORT": "\(port)",
                    ])
                )
                let jobs = (0..<12).map { TestJob(id: "s-\(format)-\($0)", prompt: "secret test \($0)", stream: $0 % 2 == 0) }
                try await bed.produce(jobs)
                try await bed.produceRaw([
                    KafkaProducerRecord(topic: bed.topics.jobs, value: Array("{broken \(format)".utf8)),
                    KafkaProducerRecord(
                        topic: bed.topics.jobs,
                        value: Array(#"{"id":"nm-\#(format)","model":"Nope","messages":[{"role":"user","content":"x"}]}"#.utf8)
                    ),
                ])
                #expect(try await collector.waitForCompletions(of: Set(jobs.map(\.id) + ["nm-\(format)"]), timeout: .seconds(60)))
                try await Task.sleep(for: .seconds(5))  // a token refresh or two
                outputs.append(try await Self.scrape(port: port))
                worker.kill(SIGTERM)
                #expect(await worker.wait(timeout: .seconds(40)) == 0)
                let log = worker.logTail(lines: 100_000)
                #expect(log.split(separator: "\n").count > 20, "trace logging wrote lines")
                if format == "json" { #expect(log.split(separator: "\n").allSatisfy { $0.hasPrefix("{") }) }
                outputs.append(log)
            }
            // What the worker published: completions (one failed with GigaChat's error message), partials, dead letters.
            let snapshot = collector.snapshot
            let encoder = JSONEncoder()
            for completion in snapshot.completions { outputs.append(String(decoding: try encoder.encode(completion.record), as: UTF8.self)) }
            for partial in snapshot.partials { outputs.append(partial.delta) }
            for letter in snapshot.deadLetters {
                outputs.append(String(decoding: letter.value ?? [], as: UTF8.self))
                for header in letter.headers { outputs.append(String(decoding: header.value ?? [], as: UTF8.self)) }
            }
            #expect(snapshot.completions.contains { $0.record.status == .failed && $0.record.error != nil })
            let tokens = bed.emulator.issuedAccessTokens
            #expect(tokens.count >= 2, "tokens were refreshed: \(tokens.count)")
            let secretPart = String(decoding: Data(base64Encoded: bed.credentials) ?? Data(), as: UTF8.self)
                .split(separator: ":").last.map(String.init) ?? "-"
            let secrets = [bed.credentials, secretPart] + tokens
            for text in outputs {
                for secret in secrets where text.contains(secret) {
                    Issue.record("a secret (\(secret.prefix(6))…) appears in: \(text.prefix(300))")
                }
            }
            try await collector.close()
        }
    }
}
