import DequeModule
import Kafka
import Metrics
import Synchronization

/// The partials of one streamed attempt: coalesces deltas (``PartialCoalescer``), publishes them in `seq` order,
/// and tells whether every one was acknowledged before the completion goes out.
///
/// Deltas arrive from the stream loop and due flushes from a timer; whoever finds nothing being sent becomes the
/// sender and drains the queue in order, so records reach librdkafka in `seq` order without holding a lock across
/// an `await`.
final class PartialStream: Sendable {
    private struct State {
        var coalescer: PartialCoalescer
        var queue: Deque<PartialCoalescer.Flush> = []
        var sending = false
        var outstanding = 0
        var failed = false
        var finished = false
        var waiter: CheckedContinuation<Bool, Never>?
    }

    private let state: Mutex<State>
    private let publisher: OutputPublisher
    private let topic: String
    private let jobID: String
    private let attemptID: String
    private let attempt: Int
    private let headers: [KafkaHeader]
    private let metrics: WorkerMetrics

    init(
        publisher: OutputPublisher,
        topic: String,
        jobID: String,
        attemptID: String,
        attempt: Int,
        headers: [KafkaHeader],
        coalescer: PartialCoalescer,
        metrics: WorkerMetrics
    ) {
        self.state = Mutex(State(coalescer: coalescer))
        self.publisher = publisher
        self.topic = topic
        self.jobID = jobID
        self.attemptID = attemptID
        self.attempt = attempt
        self.headers = headers
        self.metrics = metrics
    }

    /// Adds a delta; publishes a partial when one is due.
    func append(_ delta: String) async {
        let send = state.withLock { state -> Bool in
            if let flush = state.coalescer.append(delta, at: .now) { state.queue.append(flush) }
            return Self.claimSending(&state)
        }
        if send { await drain() }
    }

    /// Flushes pending text that has waited long enough, until cancelled (run beside the stream loop).
    func runTimer() async {
        let interval = state.withLock { $0.coalescer.interval }
        while !Task.isCancelled {
            let due = state.withLock { $0.coalescer.nextDue } ?? (.now + interval)
            do {
                try await Task.sleep(until: due, clock: .continuous)
            } catch {
                return
            }
            let send = state.withLock { state -> Bool in
                guard !state.finished else { return false }
                if let flush = state.coalescer.due(at: .now) { state.queue.append(flush) }
                return Self.claimSending(&state)
            }
            if send { await drain() }
        }
    }

    /// Publishes the final partial.
    func finish() async {
        let send = state.withLock { state -> Bool in
            state.finished = true
            state.queue.append(state.coalescer.finish(at: .now))
            return Self.claimSending(&state)
        }
        if send { await drain() }
    }

    /// Waits until every partial handed over was acknowledged or failed.
    /// - Returns: Whether all were acknowledged.
    func allAcknowledged() async -> Bool {
        await withCheckedContinuation { continuation in
            let result = state.withLock { state -> Bool? in
                if Self.settled(state) { return !state.failed }
                state.waiter = continuation
                return nil
            }
            if let result { continuation.resume(returning: result) }
        }
    }

    private static func claimSending(_ state: inout State) -> Bool {
        guard !state.sending, !state.queue.isEmpty else { return false }
        state.sending = true
        return true
    }

    private static func settled(_ state: State) -> Bool {
        state.outstanding == 0 && state.queue.isEmpty && !state.sending
    }

    /// Sends queued partials in order until the queue is empty (only the claimant of `sending` runs this).
    private func drain() async {
        while true {
            guard let flush = state.withLock({ state -> PartialCoalescer.Flush? in
                guard let next = state.queue.popFirst() else {
                    state.sending = false
                    return nil
                }
                state.outstanding += 1
                return next
            }) else {
                resumeWaiterIfSettled()
                return
            }
            let record = PartialRecord(
                id: jobID,
                attemptID: attemptID,
                attempt: attempt,
                seq: flush.seq,
                delta: flush.delta,
                isFinal: flush.isFinal
            )
            let kafkaRecord = KafkaProducerRecord(
                topic: topic,
                key: Array(jobID.utf8),
                value: record.jsonBytes,
                headers: headers
            )
            let arrival = flush.newestArrival
            let metrics = self.metrics
            let taken = await publisher.enqueue(kafkaRecord) { [self] result in
                if case .success = result {
                    metrics.partials.increment()
                    if let arrival { metrics.partialPublishDelay.recordInterval(since: arrival) }
                }
                settle(failed: { if case .failure = result { true } else { false } }())
            }
            if !taken { settle(failed: true) }
        }
    }

    private func settle(failed: Bool) {
        state.withLock { state in
            state.outstanding -= 1
            if failed { state.failed = true }
        }
        resumeWaiterIfSettled()
    }

    private func resumeWaiterIfSettled() {
        let waiter = state.withLock { state -> (CheckedContinuation<Bool, Never>, Bool)? in
            guard Self.settled(state), let waiter = state.waiter.take() else { return nil }
            return (waiter, !state.failed)
        }
        if let (continuation, result) = waiter { continuation.resume(returning: result) }
    }
}
