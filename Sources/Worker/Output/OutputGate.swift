import Kafka
import Logging
import Synchronization

/// Whether new jobs may start, as far as their outputs are concerned: no new GigaChat call is made for an answer
/// that could not be published.
///
/// Two conditions, both read by the dispatch loop before each job (``waitUntilOpen()``):
/// - every output topic exists: one the broker says does not (the completions, partials or dead-letter topic)
///   closes the gate until a record reaches it, `/readyz` says which (``reason``), and the log says so once;
/// - fewer than `limit` answered jobs wait for their outputs to be acknowledged (``beginPublishing()`` and
///   ``endPublishing()``): when the brokers hang, the worker stops calling GigaChat after one round of answers
///   instead of paying for answers that pile up in the producer — and that, after a rebalance, would be run again.
final class OutputGate: Sendable {
    private struct State {
        var missing: [String: String] = [:]
        var publishing = 0
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter: UInt64 = 0
    }

    private let state = Mutex(State())
    /// Most answered jobs waiting for their outputs before no new job starts.
    let limit: Int
    private let logger: Logger

    init(limit: Int, logger: Logger) {
        self.limit = max(1, limit)
        self.logger = logger
    }

    /// Why outputs cannot be published now, or `nil` when they can.
    var reason: String? {
        state.withLock { state in
            guard !state.missing.isEmpty else { return nil }
            return state.missing.sorted { $0.key < $1.key }.map { "output topic \($0.key) unavailable: \($0.value)" }
                .joined(separator: "; ")
        }
    }

    /// Whether any output topic is missing.
    var isBlocked: Bool { state.withLock { !$0.missing.isEmpty } }

    /// Answered jobs waiting for their outputs now.
    var publishing: Int { state.withLock { $0.publishing } }

    /// The broker refused `topic` as unknown (or refuses even the smallest record for it).
    func block(_ topic: String, because error: KafkaError) {
        let isNew = state.withLock { $0.missing.updateValue(error.message, forKey: topic) == nil }
        if isNew {
            logger.error(
                "An output topic does not exist: no new job starts until it does",
                metadata: ["topic": "\(topic)", "error": "\(error)"]
            )
        }
    }

    /// A record reached `topic`.
    func clear(_ topic: String) {
        let (wasBlocked, waiters) = state.withLock { state in
            let wasBlocked = state.missing.removeValue(forKey: topic) != nil
            return (wasBlocked, wasBlocked && state.missing.isEmpty ? Self.takeWaiters(&state, limit: limit) : [])
        }
        if wasBlocked { logger.info("Output topic available again; jobs start again", metadata: ["topic": "\(topic)"]) }
        for waiter in waiters { waiter.resume() }
    }

    /// The publisher that reported `topic` missing gave up (its job was cancelled): the topic no longer counts as
    /// missing on its word alone; the next job to publish there finds out again.
    func withdraw(_ topic: String) {
        let waiters = state.withLock { state in
            guard state.missing.removeValue(forKey: topic) != nil else { return [CheckedContinuation<Void, Never>]() }
            return Self.takeWaiters(&state, limit: limit)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// An answered job starts publishing its outputs.
    func beginPublishing() {
        state.withLock { $0.publishing += 1 }
    }

    /// An answered job's outputs were acknowledged (or given up).
    func endPublishing() {
        let waiters = state.withLock { state in
            state.publishing -= 1
            return Self.takeWaiters(&state, limit: limit)
        }
        for waiter in waiters { waiter.resume() }
    }

    private static func takeWaiters(_ state: inout State, limit: Int) -> [CheckedContinuation<Void, Never>] {
        guard state.missing.isEmpty, state.publishing < limit, !state.waiters.isEmpty else { return [] }
        defer { state.waiters.removeAll() }
        return Array(state.waiters.values)
    }

    /// Waits until a new job may start; `false` when the task was cancelled first.
    func waitUntilOpen() async -> Bool {
        while !Task.isCancelled {
            let id = state.withLock { state -> UInt64? in
                if state.missing.isEmpty && state.publishing < limit { return nil }
                state.nextWaiter += 1
                return state.nextWaiter
            }
            guard let id else { return true }
            await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    let resumeNow = state.withLock { state -> Bool in
                        if Task.isCancelled || (state.missing.isEmpty && state.publishing < limit) { return true }
                        state.waiters[id] = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            } onCancel: {
                let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
                waiter?.resume()
            }
        }
        return false
    }
}
