import Foundation

// Hidden mode: the GigaChat `streams` benchmark runs its emulator in a child process (this executable).
if CommandLine.arguments.dropFirst().first == GigaChatEmulatorProcess.childModeArgument {
    try await GigaChatEmulatorProcess.serveChild(arguments: Array(CommandLine.arguments.dropFirst(2)))
    exit(0)
}
// Usage: Benchmarks [list | <name>...]. No names runs every benchmark in the registry.
let arguments = Array(CommandLine.arguments.dropFirst())
if arguments.first == "list" || arguments.first == "--help" || arguments.first == "-h" {
    print("usage: Benchmarks [list | <name>...]   (no name: all)")
    for benchmark in BenchmarkRegistry.all {
        print("  \(benchmark.name.padding(toLength: 20, withPad: " ", startingAt: 0)) \(benchmark.summary)")
    }
    exit(0)
}
let selected: [Benchmark]
if arguments.isEmpty {
    selected = BenchmarkRegistry.all
} else {
    var chosen: [Benchmark] = []
    for name in arguments {
        guard let benchmark = BenchmarkRegistry.all.first(where: { $0.name == name }) else {
            let names = BenchmarkRegistry.all.map(\.name).joined(separator: ", ")
            FileHandle.standardError.write(Data("unknown benchmark '\(name)'; known: \(names)\n".utf8))
            exit(2)
        }
        chosen.append(benchmark)
    }
    selected = chosen
}
var failed = false
for benchmark in selected {
    print("== \(benchmark.name): \(benchmark.summary)")
    do {
        try await benchmark.run()
    } catch {
        failed = true
        FileHandle.standardError.write(Data("benchmark \(benchmark.name) failed: \(error)\n".utf8))
    }
}
exit(failed ? 1 : 0)
