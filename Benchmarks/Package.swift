// swift-tools-version:6.1
import Foundation
import PackageDescription

// The root package is a path dependency, so its identity is its directory's name (e.g. "main" or
// "gigachat-worker" depending on the checkout); derive it instead of hard-coding it.
let rootIdentity = URL(fileURLWithPath: Context.packageDirectory).deletingLastPathComponent().lastPathComponent

let package = Package(
    name: "Benchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
        // Already dependencies of the root package; named here so `import Logging` / `import NIOCore` are declared.
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "Benchmarks",
            dependencies: [
                .product(name: "Kafka", package: rootIdentity),
                .product(name: "GigaChat", package: rootIdentity),
                .product(name: "GigaChatEmulator", package: rootIdentity),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: [
                .swiftLanguageMode(.v6),
                .enableUpcomingFeature("ExistentialAny"),
            ]
        )
    ]
)
