import ArgumentParser
import Foundation
import Logging

/// Log options shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (default: info; env GIGACHAT_WORKER_LOG_LEVEL).")
    var logLevel: String?

    /// Sets up swift-log once (to stderr) and returns the logger.
    func bootstrap(label: String) -> Logger {
        let text = logLevel ?? ProcessInfo.processInfo.environment["GIGACHAT_WORKER_LOG_LEVEL"] ?? "info"
        let level = Logger.Level(rawValue: text.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}
