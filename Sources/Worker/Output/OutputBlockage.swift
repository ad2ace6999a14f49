import Kafka
import Logging
import Synchronization

/// Output topics the broker says do not exist (the completions, partials or dead-letter topic): while one is
/// missing, no new job starts (its answer could not be published), `/readyz` says which, and the log says so once.
///
/// Set and cleared by ``OutcomePublisher`` as its deliveries fail and succeed; read by the dispatch loop and the
/// readiness check.
final class OutputBlockage: Sendable {
    private let missing = Mutex<[String: String]>([:])
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Why outputs cannot be published now, or `nil` when they can.
    var reason: String? {
        missing.withLock { missing in
            guard !missing.isEmpty else { return nil }
            return missing.sorted { $0.key < $1.key }.map { "output topic \($0.key) unavailable: \($0.value)" }
                .joined(separator: "; ")
        }
    }

    /// The broker refused `topic` as unknown.
    func block(_ topic: String, because error: KafkaError) {
        let isNew = missing.withLock { $0.updateValue(error.message, forKey: topic) == nil }
        if isNew {
            logger.error(
                "An output topic does not exist: no new job starts until it does",
                metadata: ["topic": "\(topic)", "error": "\(error)"]
            )
        }
    }

    /// A record reached `topic`.
    func clear(_ topic: String) {
        let wasBlocked = missing.withLock { $0.removeValue(forKey: topic) != nil }
        if wasBlocked { logger.info("Output topic available again; jobs start again", metadata: ["topic": "\(topic)"]) }
    }

    /// Whether any topic is missing (cheap: the hot path asks before every job).
    var isBlocked: Bool { missing.withLock { !$0.isEmpty } }

    /// Waits until no output topic is missing; `false` when the task was cancelled first.
    func waitUntilClear(poll interval: Duration = .milliseconds(100)) async -> Bool {
        while isBlocked {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return false
            }
        }
        return !Task.isCancelled
    }
}
