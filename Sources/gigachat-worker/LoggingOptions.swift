import ArgumentParser
import Foundation
import Logging
import Worker

/// Log options shared by the long-running commands.
struct LoggingOptions: ParsableArguments {
    @Option(help: "trace, debug, info, notice, warning, error or critical (default: info; env GIGACHAT_WORKER_LOG_LEVEL).")
    var logLevel: String?

    @Option(help: "text or json (default: json when standard error is not a terminal; env GIGACHAT_WORKER_LOG_FORMAT).")
    var logFormat: String?

    /// Whether log lines are JSON: asked for, or standard error is not a terminal.
    var json: Bool {
        switch (logFormat ?? ProcessInfo.processInfo.environment["GIGACHAT_WORKER_LOG_FORMAT"])?.lowercased() {
        case "json": true
        case "text": false
        default: isatty(STDERR_FILENO) != 1
        }
    }

    /// Sets up swift-log once (to stderr) and returns the logger.
    func bootstrap(label: String) -> Logger {
        let text = logLevel ?? ProcessInfo.processInfo.environment["GIGACHAT_WORKER_LOG_LEVEL"] ?? "info"
        let level = Logger.Level(rawValue: text.lowercased()) ?? .info
        let json = self.json
        LoggingSystem.bootstrap { label in
            if json {
                var handler = JSONLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}
