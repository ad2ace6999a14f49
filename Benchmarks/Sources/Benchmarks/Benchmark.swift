/// One named benchmark that `Benchmarks <name>...` can run.
struct Benchmark: Sendable {
    /// The command-line name, e.g. `kafka`.
    var name: String
    /// One line for `Benchmarks list`.
    var summary: String
    /// Runs the benchmark and prints its results.
    var run: @Sendable () async throws -> Void
}

/// Every benchmark of the executable. Each area adds its own list here.
enum BenchmarkRegistry {
    static let all: [Benchmark] = KafkaBenchmarks.all + GigaChatBenchmarks.all + WorkerBenchmarks.all + FleetBenchmarks.all
}
