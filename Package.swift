// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "gigachat-worker",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "gigachat-worker", targets: ["gigachat-worker"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "GigaChat", targets: ["GigaChat"]),
        .library(name: "GigaChatEmulator", targets: ["GigaChatEmulator"]),
        .library(name: "WireFormat", targets: ["WireFormat"]),
        .library(name: "Worker", targets: ["Worker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(
            url: "https://github.com/apple/swift-configuration.git",
            from: "1.4.0",
            traits: [.defaults, "YAML", "CommandLineArguments"]
        ),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.8.1"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/console-kit.git", from: "4.16.2"),
        // Already a dependency of swift-configuration's YAML trait; the worker reads a file's keys with it.
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        // librdkafka's C API, found with pkg-config (scripts/bootstrap.sh installs >= 2.2).
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "GigaChat",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),
        .target(
            name: "GigaChatEmulator",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // The messages on the topics: jobs in (and why one is rejected), completions and partials out.
        .target(name: "WireFormat", dependencies: ["GigaChat"]),
        // The pipeline: jobs in, completions out; the delivery guarantees live here.
        .target(
            name: "Worker",
            dependencies: [
                "Kafka",
                "GigaChat",
                "WireFormat",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Bulk use: JSONL and documents into jobs (submit), completions into a results file (collect).
        .target(name: "Batch", dependencies: ["GigaChat", "WireFormat", "Kafka"]),
        .executableTarget(
            name: "gigachat-worker",
            dependencies: [
                "Batch",
                "Kafka",
                "GigaChat",
                "GigaChatEmulator",
                "WireFormat",
                "Worker",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ConsoleKitTerminal", package: "console-kit"),
            ]
        ),
        .testTarget(
            name: "KafkaTests",
            dependencies: ["Kafka", "CRdKafka", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        // Helpers shared by the test targets (child processes without Foundation's Process, Tansu, librdkafka's
        // mock cluster).
        .target(name: "TestSupport", dependencies: ["CRdKafka"], path: "Tests/TestSupport"),
        // End-to-end tests against a real broker (Tansu, started by the tests) and kcat.
        .testTarget(
            name: "KafkaIntegrationTests",
            dependencies: ["Kafka", "TestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "GigaChatTests",
            dependencies: [
                "GigaChat",
                "GigaChatEmulator",
                "TestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "GigaChatEmulatorTests",
            dependencies: [
                "GigaChatEmulator",
                "TestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["sdk_check.py"]
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "WireFormat", "Kafka", "GigaChat", .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "BatchTests",
            dependencies: ["Batch", "WireFormat", "Worker", "GigaChat"]
        ),
        // The worker end to end: Tansu and the emulator started by the tests, the worker in-process and as the
        // built executable.
        .testTarget(
            name: "WorkerIntegrationTests",
            dependencies: [
                "Worker", "WireFormat", "Kafka", "GigaChat", "GigaChatEmulator", "TestSupport", "gigachat-worker",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The executable as a user runs it (depends on it so that it is built before the tests run).
        .testTarget(
            name: "GigaChatWorkerCLITests",
            dependencies: ["gigachat-worker", "GigaChatEmulator", "TestSupport"]
        ),
    ]
)

// Strict settings once for every target (STYLE.md): Swift 6 language mode implies complete concurrency checking.
for target in package.targets where target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.swiftLanguageMode(.v6))
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    target.swiftSettings = settings
}

// Development aid: `GW_ONLY=Kafka swift test --scratch-path .build-kafka` builds only the targets whose names start
// with one of the comma-separated prefixes (plus the C system library), so work on one module neither waits
// for nor breaks on another's. Unset (CI, `make test`), the package is whole.
if let only = Context.environment["GW_ONLY"], !only.isEmpty {
    let prefixes = only.split(separator: ",").map(String.init)
    let kept = Set(
        package.targets.filter { target in
            target.type == .system || target.name == "TestSupport" || prefixes.contains { target.name.hasPrefix($0) }
        }.map(\.name)
    )
    package.targets.removeAll { !kept.contains($0.name) }
    package.products.removeAll()  // products may name dropped targets; tests need none
}
