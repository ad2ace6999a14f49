import Foundation
import GigaChatEmulator
import TestSupport
import Testing
import Worker

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Scaling out by adding worker processes to the group, as a fleet does.
@Suite("Scale-out: worker processes in one group", .serialized, .timeLimit(.minutes(5)))
struct WorkerScaleOutTests {
    /// A worker process's `/readyz`: whether it is ready and how many partitions it says it owns.
    static func readiness(port: Int) async -> (ready: Bool, partitions: Int) {
        guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/readyz")!)
        else { return (false, 0) }
        let text = String(decoding: data, as: UTF8.self)  // "ready: 2 partitions assigned, ..."
        let ready = (response as? HTTPURLResponse)?.statusCode == 200
        return (ready, ready ? text.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0 : 0)
    }

    /// Produces the batch and waits until every job has a completion; the seconds it took.
    static func runBatch(
        _ jobs: [TestJob],
        bed: WorkerTestBed,
        collector: OutputCollector,
        midway: (() async throws -> Void)? = nil
    ) async throws -> Double {
        let start = ContinuousClock.now
        try await bed.produce(jobs)
        let ids = Set(jobs.map(\.id))
        if let midway {
            #expect(try await collector.wait(timeout: .seconds(120)) { state in
                state.completions.filter { ids.contains($0.record.id) }.count >= jobs.count * 2 / 3
            })
            try await midway()
        }
        #expect(try await collector.waitForCompletions(of: ids, timeout: .seconds(180)))
        return (ContinuousClock.now - start).secondsDouble
    }

    @Test func threeWorkersTakeUnderHalfTheTimeOfOneAndAStoppedOneLosesNothing() async throws {
        var emulator = GigaChatEmulatorConfiguration()
        emulator.timeToFirstToken = .milliseconds(500)  // latency-bound: each worker runs 2 at a time
        try await WorkerTestBed.run(partitions: 6, emulator: emulator) { bed in
            let collector = try bed.collector()
            func start() throws -> (WorkerProcess, Int) {
                let port = try TansuBroker.freePort()
                let process = try WorkerProcess.start(
                    environment: bed.environment(["GIGACHAT_WORKER_CONCURRENCY": "2", "GIGACHAT_WORKER_METRICS_PORT": "\(port)"])
                )
                return (process, port)
            }
            func settle(_ ports: [Int]) async throws -> [Int] {
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    var owned: [Int] = []
                    for port in ports { owned.append(await Self.readiness(port: port).partitions) }
                    if owned.reduce(0, +) == 6, owned.allSatisfy({ $0 > 0 }) { return owned }
                    try await Task.sleep(for: .milliseconds(200))
                }
                throw HarnessError("the group did not settle")
            }

            // One worker.
            let (single, singlePort) = try start()
            _ = try await settle([singlePort])
            let first = (0..<300).map { TestJob(id: "one-\($0)", prompt: "scale \($0)", partition: Int32($0 % 6)) }
            let alone = try await Self.runBatch(first, bed: bed, collector: collector)
            single.kill(SIGTERM)
            #expect(await single.wait(timeout: .seconds(40)) == 0)

            // Three in the same group; one stopped when two thirds are done.
            let workers = try (0..<3).map { _ in try start() }
            let owned = try await settle(workers.map(\.1))
            #expect(owned.count == 3 && owned.allSatisfy { $0 >= 1 }, "partitions spread over all three: \(owned)")
            let second = (0..<300).map { TestJob(id: "three-\($0)", prompt: "scale \($0)", partition: Int32($0 % 6)) }
            let together = try await Self.runBatch(second, bed: bed, collector: collector) {
                workers[0].0.kill(SIGTERM)
            }
            #expect(await workers[0].0.wait(timeout: .seconds(40)) == 0)
            print("scale-out: one worker \(alone) s, three (one stopped midway) \(together) s")
            #expect(together < alone / 2, "three workers: \(together) s, one: \(alone) s")

            let completions = collector.snapshot.completions.map(\.record)
            let answered = Set(completions.filter { $0.status == .ok }.map(\.id))
            #expect(Set((first + second).map(\.id)).isSubset(of: answered), "nothing lost")
            for (process, _) in workers.dropFirst() {
                process.kill(SIGTERM)
                #expect(await process.wait(timeout: .seconds(40)) == 0)
            }
            try await collector.close()
        }
    }
}
