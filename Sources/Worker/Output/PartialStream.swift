import DequeModule
import Kafka
import Metrics
import NIOCore
import Synchronization
import WireFormat

/// The partials of one streamed attempt: coalesces deltas (``PartialCoalescer``), publishes them in `seq` order,
/// and makes sure every one reached the broker before the completion goes out.
///
/// A partial the broker did not take is not a failure of the GigaChat call: ``deliverAll()`` publishes the
/// refused ones again (through ``OutcomePublisher/deliver(_:)``, with its backoff) instead of asking GigaChat for a
/// new, billed generation. Such a partial can then arrive after a later `seq`; readers order by `seq`.
///
/// Deltas arrive where the stream's bytes do (an event-loop thread, ``add(_:)``) and due flushes from a timer;
/// whoever finds nothing being sent becomes the sender and drains the queue in order, so records reach librdkafka in
/// `seq` order without holding a lock across an `await`. The event-loop side never waits: when the producer's queue
/// is full it hands its turn as sender to a task of its own, which waits for room and sends the rest in order
/// (whatever then happens to the attempt).
///
/// The timer is armed only while text waits for company, on the event loop the deltas arrive on, in that loop's
/// shared timers (``PartialFlushTimers``: one NIO timer per loop and 5 ms slot, not one per stream; most flushes
/// happen in ``add(_:)`` anyway). It flushes what is due when it fires, and is armed again if text still waits.
/// ``stop()`` (the call failed or was cancelled) and ``finish()`` end it.
final class PartialStream: Sendable {
    private struct State {
        var coalescer: PartialCoalescer
        var queue: Deque<PartialCoalescer.Flush> = []
        var sending = false
        var outstanding = 0
        /// Partials the broker refused (at hand-over or in the report), in `seq` order of their failure.
        var refused: [(seq: Int, record: KafkaProducerRecord)] = []
        /// The call ended: no more timer flushes (``finish()`` still adds the final partial).
        var finished = false
        /// A flush timer is armed.
        var timerArmed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state: Mutex<State>
    private let publisher: OutcomePublisher
    private let topic: String
    private let jobID: String
    /// The partials' Kafka key (the job's id), made once.
    private let key: [UInt8]
    private let attemptID: String
    private let attempt: Int
    private let headers: [KafkaHeader]
    private let metrics: WorkerMetrics

    init(
        publisher: OutcomePublisher,
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
        self.key = Array(jobID.utf8)
        self.attemptID = attemptID
        self.attempt = attempt
        self.headers = headers
        self.metrics = metrics
    }

    /// Adds a delta; publishes a partial when one is due. Never waits (see the type's notes).
    func add(_ delta: String) {
        let (send, armAt) = state.withLock { state -> (Bool, ContinuousClock.Instant?) in
            if let flush = state.coalescer.append(delta, at: .now) { state.queue.append(flush) }
            return (Self.claimSending(&state), Self.armTimer(&state))
        }
        if let armAt { scheduleFlush(at: armAt) }
        if send { drainWithoutWaiting() }
    }

    /// Ends the flush timer when the call ends, however it ended: text still pending stays unpublished until
    /// ``finish()`` (the answer stands) or for good (the call failed, was cancelled, or its answer was replaced). A
    /// timer flush that had begun may still hand its partial over after this returns (it is this attempt's, and
    /// readers order by attempt and `seq`).
    func stop() {
        state.withLock { $0.finished = true }
    }

    /// Arms the timer if text waits and none is armed; returns when it should fire.
    private static func armTimer(_ state: inout State) -> ContinuousClock.Instant? {
        guard !state.timerArmed, !state.finished, let due = state.coalescer.nextDue else { return nil }
        state.timerArmed = true
        return due
    }

    /// On the loop the delta came in on when there is one (no thread is woken to arm it), in that loop's shared
    /// timers (``PartialFlushTimers``).
    private func scheduleFlush(at due: ContinuousClock.Instant) {
        // The delay first, then the loop's clock: the timer is never earlier than `due`.
        let delay = TimeAmount(max(.zero, due - .now))
        PartialFlushTimers.schedule(self, at: .now() + delay)
    }

    /// The armed timer will not fire (its event loop is shutting down): the next delta arms another.
    func timerLost() {
        state.withLock { $0.timerArmed = false }
    }

    /// The timer fired: publishes the pending text if it is due, and arms the timer again if text still waits.
    func flushDue() {
        let (send, armAt) = state.withLock { state -> (Bool, ContinuousClock.Instant?) in
            state.timerArmed = false
            guard !state.finished else { return (false, nil) }
            if let flush = state.coalescer.due(at: .now) { state.queue.append(flush) }
            return (Self.claimSending(&state), Self.armTimer(&state))
        }
        if let armAt { scheduleFlush(at: armAt) }
        if send { drainWithoutWaiting() }
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

    /// Waits until every partial handed over was acknowledged or refused, then publishes the refused ones again
    /// until they are acknowledged.
    /// - Returns: Whether all were acknowledged (`false`: the task was cancelled or the producer closed).
    func deliverAll() async -> Bool {
        // The reports can take up to `message.timeout.ms` while the brokers are away: cancellation ends the wait.
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let settled = state.withLock { state -> Bool in
                    if Self.settled(state) || Task.isCancelled { return true }
                    state.waiter = continuation
                    return false
                }
                if settled { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiter.take() }?.resume()
        }
        if Task.isCancelled { return false }
        let refused = state.withLock { $0.refused.sorted { $0.seq < $1.seq }.map(\.record) }
        for record in refused {
            guard await publisher.deliver(record) else { return false }
            metrics.partials.increment()
        }
        return true
    }

    private static func claimSending(_ state: inout State) -> Bool {
        guard !state.sending, !state.queue.isEmpty else { return false }
        state.sending = true
        return true
    }

    private static func settled(_ state: State) -> Bool {
        state.outstanding == 0 && state.queue.isEmpty && !state.sending
    }

    /// Sends queued partials in order until the queue is empty, waiting while the producer's queue is full (only
    /// the claimant of `sending` runs this).
    private func drain() async {
        while let flush = takeNext() {
            let record = kafkaRecord(flush)
            do {
                try await publisher.enqueue(
                    record,
                    onDelivery: reporter(seq: flush.seq, record: record, arrival: flush.newestArrival)
                )
            } catch {
                settle(refused: (flush.seq, record))
            }
        }
    }

    /// Sends queued partials in order without waiting; when the producer's queue is full, a task takes over as the
    /// sender and waits for room (only the claimant of `sending` runs this).
    private func drainWithoutWaiting() {
        while let flush = takeNext() {
            let record = kafkaRecord(flush)
            do {
                try publisher.enqueueNow(
                    record,
                    onDelivery: reporter(seq: flush.seq, record: record, arrival: flush.newestArrival)
                )
            } catch  where error.code == .queueFull {
                // Still the sender: the claim passes to the task, so nothing can overtake this partial.
                state.withLock { state in
                    state.queue.prepend(flush)
                    state.outstanding -= 1
                }
                Task { await self.drain() }
                return
            } catch {
                settle(refused: (flush.seq, record))
            }
        }
    }

    /// The next queued partial, counted as outstanding; `nil` (and `sending` released) when the queue is empty.
    private func takeNext() -> PartialCoalescer.Flush? {
        let next = state.withLock { state -> PartialCoalescer.Flush? in
            guard let next = state.queue.popFirst() else {
                state.sending = false
                return nil
            }
            state.outstanding += 1
            return next
        }
        if next == nil { resumeWaiterIfSettled() }
        return next
    }

    private func kafkaRecord(_ flush: PartialCoalescer.Flush) -> KafkaProducerRecord {
        let record = PartialRecord(
            id: jobID,
            attemptID: attemptID,
            attempt: attempt,
            seq: flush.seq,
            delta: flush.delta,
            isFinal: flush.isFinal
        )
        return KafkaProducerRecord(topic: topic, key: key, value: record.jsonBytes, headers: headers)
    }

    /// What to do with a partial's delivery report.
    private func reporter(
        seq: Int,
        record: KafkaProducerRecord,
        arrival: ContinuousClock.Instant?
    ) -> @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void {
        let metrics = self.metrics
        return { [self] result in
            switch result {
            case .success:
                metrics.partials.increment()
                if let arrival { metrics.partialPublishDelay.recordInterval(since: arrival) }
                settle(refused: nil)
            case .failure:
                settle(refused: (seq, record))
            }
        }
    }

    private func settle(refused: (seq: Int, record: KafkaProducerRecord)?) {
        state.withLock { state in
            state.outstanding -= 1
            if let refused { state.refused.append(refused) }
        }
        resumeWaiterIfSettled()
    }

    private func resumeWaiterIfSettled() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard Self.settled(state) else { return nil }
            return state.waiter.take()
        }
        waiter?.resume()
    }
}
