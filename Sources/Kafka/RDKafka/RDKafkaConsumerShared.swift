import CRdKafka
import Foundation
import Logging
import Synchronization

/// State shared by a ``KafkaConsumer``, its message iterators and its poll thread.
///
/// Everything the application side touches is in one `Mutex`, and no librdkafka call that can wait is made
/// while holding it: the application only records what it wants (pause, resume) and wakes the poll thread
/// (`rd_kafka_queue_yield`), which applies it (``RDKafkaConsumerPollThread``). `rd_kafka_pause_partitions` and
/// `rd_kafka_resume_partitions` are synchronous in librdkafka (they wait for the partitions' broker threads), so
/// they run on the poll thread only, never on the cooperative pool.
///
/// Back-pressure: when `capacity` messages or `byteCapacity` bytes wait in the buffer, the poll thread pauses
/// every assigned partition (librdkafka then stops fetching and later re-fetches from the consumed position) and
/// keeps polling, so heartbeats, rebalances and `max.poll.interval.ms` are served while the application is
/// busy. When the buffer drains to half of both bounds, the partitions the application has not paused resume.
///
/// Pauses the application asked for end with the partition's revocation: a partition assigned again starts
/// fetching (as in Kafka's Java client). librdkafka itself keeps its application-pause flag across
/// re-assignments, so the poll thread clears it when the partition leaves the assignment.
final class RDKafkaConsumerShared: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<KafkaConsumerMessage?, any Error>
    }

    /// The consumer's life: the client is the application's while running; once close is requested only the poll
    /// thread has it, and it is destroyed when the poll thread has left the group.
    private enum Lifecycle {
        /// Created, the client not attached yet.
        case created
        case running(RDKafkaClient)
        /// Close requested: the poll thread is leaving the group; these wait for it.
        case closing(waiters: [CheckedContinuation<Void, Never>], error: KafkaError?)
        /// Left the group and destroyed; `error` when leaving failed.
        case closed(error: KafkaError?)
    }

    private struct State {
        var lifecycle = Lifecycle.created
        var client: RDKafkaClient? {
            if case .running(let client) = lifecycle { client } else { nil }
        }
        /// The consumer queue, to wake the poll thread; destroyed by the poll thread before the client.
        var wakeQueue: RDKafkaQueue?
        var buffer = RDKafkaMessageQueue()
        var bufferedBytes = 0
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var finished = false
        var failure: KafkaError?
        var assignment: Set<KafkaTopicPartition> = []
        var pausedByApplication: Set<KafkaTopicPartition> = []
        /// Messages of application-paused partitions that reached the poll thread before the pause was applied,
        /// released on resume (so nothing of a partition is handed out after `pause` returned).
        var heldBack: [KafkaTopicPartition: [KafkaConsumerMessage]] = [:]
        var pausedForBackPressure = false
    }

    private let state = Mutex(State())
    let capacity: Int
    let byteCapacity: Int
    /// Where assigned partitions start (``KafkaConsumerConfiguration/startTime``).
    let startTime: Date?
    /// Whether the configured assignment strategies are all cooperative (incremental rebalances).
    let configuredCooperative: Bool
    let events: AsyncStream<KafkaConsumerEvent>
    private let eventSink: AsyncStream<KafkaConsumerEvent>.Continuation
    /// Called on the poll thread after partitions are assigned, before their messages are handed out.
    let assignmentHandler: (@Sendable ([KafkaTopicPartition]) -> Void)?
    /// Called on the poll thread before revoked partitions are given up (see ``KafkaConsumer/init``).
    let revocationHandler: (@Sendable (KafkaConsumerRevocation) -> Void)?
    /// What only the poll thread touches: the batch being gathered and the pauses applied in librdkafka.
    let pollThread = RDKafkaConsumerPollThread()

    let logger: Logger

    init(
        capacity: Int,
        byteCapacity: Int,
        startTime: Date? = nil,
        configuredCooperative: Bool = false,
        logger: Logger,
        revocationHandler: (@Sendable (KafkaConsumerRevocation) -> Void)? = nil,
        assignmentHandler: (@Sendable ([KafkaTopicPartition]) -> Void)? = nil
    ) {
        self.capacity = max(capacity, 1)
        self.byteCapacity = max(byteCapacity, 1)
        self.startTime = startTime
        self.configuredCooperative = configuredCooperative
        self.logger = logger
        self.assignmentHandler = assignmentHandler
        self.revocationHandler = revocationHandler
        (events, eventSink) = AsyncStream.makeStream(
            of: KafkaConsumerEvent.self,
            bufferingPolicy: .bufferingNewest(1024)
        )
    }

    func attach(_ client: RDKafkaClient, wakeQueue: RDKafkaQueue) {
        state.withLock {
            $0.lifecycle = .running(client)
            $0.wakeQueue = wakeQueue
        }
    }

    var client: RDKafkaClient? { state.withLock { $0.client } }

    func emit(_ event: KafkaConsumerEvent) {
        eventSink.yield(event)
    }

    /// Makes a waiting `rd_kafka_consumer_poll` return, so the poll thread applies pause changes at once.
    private static func wake(_ state: State) {
        state.wakeQueue?.yield()
    }

    // MARK: - Messages (iterator side)

    /// The next buffered message, waiting for one if the buffer is empty; `nil` at the end.
    ///
    /// One message per call under the lock, so an iterator that is dropped (a `break` out of `for try await`)
    /// never takes messages with it; the poll thread still hands over whole batches, so a waiting iterator is
    /// woken once per batch, not once per message.
    func next() async throws -> KafkaConsumerMessage? {
        let id: UInt64
        switch state.withLock({ Self.take(&$0, capacity: capacity, byteCapacity: byteCapacity, register: true) }) {
        case .message(let message): return message
        case .end: return nil
        case .failure(let error): throw error
        case .wait(let waiterID): id = waiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<KafkaConsumerMessage?, any Error>? = state.withLock { state in
                    switch Self.take(&state, capacity: capacity, byteCapacity: byteCapacity, register: false) {
                    case .message(let message): return .success(message)
                    case .end: return .success(nil)
                    case .failure(let error): return .failure(error)
                    case .wait:
                        if Task.isCancelled { return .success(nil) }
                        state.waiters.append(Waiter(id: id, continuation: continuation))
                        return nil
                    }
                }
                if let immediate { continuation.resume(with: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index)
            }
            waiter?.continuation.resume(returning: nil)
        }
    }

    private enum Take {
        case message(KafkaConsumerMessage)
        case end
        case failure(KafkaError)
        case wait(UInt64)
    }

    /// Takes the first buffered message (ending back-pressure once the buffer has drained to half of both
    /// bounds), or says why there is none.
    private static func take(_ state: inout State, capacity: Int, byteCapacity: Int, register: Bool) -> Take {
        if let message = state.buffer.popFirst() {
            state.bufferedBytes -= message.approximateSize
            endBackPressureIfDrained(&state, capacity: capacity, byteCapacity: byteCapacity)
            return .message(message)
        }
        if let failure = state.failure {
            state.failure = nil
            return .failure(failure)
        }
        if state.finished { return .end }
        if register { state.nextWaiterID += 1 }
        return .wait(state.nextWaiterID)
    }

    /// Ends back-pressure once the buffer has drained to half of both bounds, waking the poll thread to resume.
    private static func endBackPressureIfDrained(_ state: inout State, capacity: Int, byteCapacity: Int) {
        guard state.pausedForBackPressure, state.buffer.count <= capacity / 2, state.bufferedBytes <= byteCapacity / 2
        else { return }
        state.pausedForBackPressure = false
        wake(state)
    }

    /// Messages and bytes waiting in the buffer (for tests and diagnostics).
    var buffered: (messages: Int, bytes: Int) { state.withLock { ($0.buffer.count, $0.bufferedBytes) } }

    // MARK: - Poll thread side

    /// How many more messages and bytes the buffer takes before back-pressure; the poll thread gathers at most this
    /// much. (It gathered up to 2,048 messages whatever the count bound: a worker with room for 500 took a batch of
    /// 2,048, paused at once, and every pause drops librdkafka's pre-fetch, so its intake stalled at each resume.)
    var room: (messages: Int, bytes: Int) {
        state.withLock { (max(0, capacity - $0.buffer.count), max(0, byteCapacity - $0.bufferedBytes)) }
    }

    /// Buffers a batch and wakes waiting iterators (one message each); starts back-pressure when full.
    ///
    /// Messages of partitions that are no longer assigned are dropped (the next owner reads them again from the
    /// committed offset); those of application-paused partitions are held back until ``resume(_:)``.
    func deliver(_ batch: [KafkaConsumerMessage]) {
        let woken = state.withLock { state -> [(Waiter, KafkaConsumerMessage)] in
            if state.finished { return [] }
            for message in batch {
                let partition = message.topicPartition
                guard state.assignment.contains(partition) else { continue }
                if state.pausedByApplication.contains(partition) {
                    state.heldBack[partition, default: []].append(message)
                    continue
                }
                state.buffer.append(message)
                state.bufferedBytes += message.approximateSize
            }
            if (state.buffer.count >= capacity || state.bufferedBytes >= byteCapacity) && !state.assignment.isEmpty {
                state.pausedForBackPressure = true
            }
            return Self.wakeWaiters(&state)
        }
        for (waiter, message) in woken { waiter.continuation.resume(returning: message) }
    }

    /// Hands buffered messages to waiting iterators, one each, in order.
    private static func wakeWaiters(_ state: inout State) -> [(Waiter, KafkaConsumerMessage)] {
        var woken: [(Waiter, KafkaConsumerMessage)] = []
        while !state.waiters.isEmpty, let message = state.buffer.popFirst() {
            state.bufferedBytes -= message.approximateSize
            woken.append((state.waiters.removeFirst(), message))
        }
        return woken
    }

    /// The partitions that should be paused in librdkafka now: all assigned ones under back-pressure, plus the
    /// assigned ones the application paused.
    var desiredPauses: Set<KafkaTopicPartition> {
        state.withLock { state in
            let byApplication = state.pausedByApplication.intersection(state.assignment)
            return state.pausedForBackPressure ? state.assignment : byApplication
        }
    }

    /// Ends the messages: buffered ones are dropped (the group is left), waiting iterators get `nil`, or the
    /// error first when there is one.
    func finishMessages(with error: KafkaError? = nil) {
        let (waiters, errorForFirst) = state.withLock { state -> ([Waiter], KafkaError?) in
            guard !state.finished else { return ([], nil) }
            state.finished = true
            if error == nil {
                state.buffer.removeAll()
                state.bufferedBytes = 0
            }
            state.heldBack = [:]
            defer { state.waiters = [] }
            // Waiters exist only while the buffer is empty, so the first one may take the error at once;
            // otherwise it waits behind the buffered messages.
            if state.waiters.isEmpty { state.failure = error }
            return (state.waiters, state.waiters.isEmpty ? nil : error)
        }
        for (offset, waiter) in waiters.enumerated() {
            if offset == 0, let errorForFirst {
                waiter.continuation.resume(throwing: errorForFirst)
            } else {
                waiter.continuation.resume(returning: nil)
            }
        }
    }

    func finishEvents() {
        eventSink.finish()
    }

    // MARK: - Assignment changes (poll thread, inside librdkafka's poll)

    /// Replaces the assignment with librdkafka's (after a rebalance callback changed it).
    func setAssignment(_ partitions: Set<KafkaTopicPartition>) {
        state.withLock { state in
            // A partition no longer assigned is no longer paused (as in ``removeFromAssignment(_:)``); one paused
            // before its assignment stays paused.
            state.pausedByApplication.subtract(state.assignment.subtracting(partitions))
            state.assignment = partitions
            if partitions.isEmpty { state.pausedForBackPressure = false }
        }
    }

    /// Records newly assigned partitions (the whole assignment for the eager protocols).
    func noteAssigned(_ partitions: [KafkaTopicPartition], replacing: Bool) {
        state.withLock { state in
            if replacing { state.assignment = [] }
            state.assignment.formUnion(partitions)
        }
    }

    /// Drops the buffered, held-back and gathered messages of partitions being revoked; they stay assigned (so
    /// their offsets can still be stored) until ``removeFromAssignment(_:)``. Called before the revocation
    /// handler, so the application takes nothing more of them while its handler runs.
    ///
    /// Back-pressure ends here too when the buffer drained to half of both bounds: if the buffer held only the
    /// revoked partitions' backlog, no iterator would pop a message again to end it, and the partitions kept
    /// would stay paused for ever.
    func dropMessages(of partitions: Set<KafkaTopicPartition>) {
        state.withLock { state in
            for partition in partitions { state.heldBack[partition] = nil }
            state.buffer.removeAll { message in
                guard partitions.contains(message.topicPartition) else { return false }
                state.bufferedBytes -= message.approximateSize
                return true
            }
            Self.endBackPressureIfDrained(&state, capacity: capacity, byteCapacity: byteCapacity)
        }
        // Messages gathered by the poll call that ran this rebalance were fetched before it.
        pollThread.dropGathered(of: partitions)
    }

    /// Forgets revoked partitions and the application's pauses of them; before librdkafka unassigns them.
    func removeFromAssignment(_ partitions: Set<KafkaTopicPartition>) {
        state.withLock { state in
            state.assignment.subtract(partitions)
            state.pausedByApplication.subtract(partitions)
            if state.assignment.isEmpty { state.pausedForBackPressure = false }
        }
    }

    var assignedPartitions: Set<KafkaTopicPartition> { state.withLock { $0.assignment } }

    // MARK: - Pause / resume / assignment (application side)

    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try state.withLock { state throws(KafkaError) in
            guard state.client != nil else { throw KafkaError.closed("The consumer") }
            // Partitions not assigned yet are paused when they are assigned.
            state.pausedByApplication.formUnion(partitions)
            Self.wake(state)
        }
    }

    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let woken = try state.withLock { state throws(KafkaError) -> [(Waiter, KafkaConsumerMessage)] in
            guard state.client != nil else { throw KafkaError.closed("The consumer") }
            state.pausedByApplication.subtract(partitions)
            // Held-back messages come first: nothing newer of these partitions was fetched while they waited.
            for partition in partitions {
                guard let held = state.heldBack.removeValue(forKey: partition) else { continue }
                state.buffer.append(contentsOf: held)
                state.bufferedBytes += held.reduce(0) { $0 + $1.approximateSize }
            }
            Self.wake(state)
            return Self.wakeWaiters(&state)
        }
        for (waiter, message) in woken { waiter.continuation.resume(returning: message) }
    }

    /// The client, if every partition in `partitions` is assigned to this member right now.
    ///
    /// Committing or storing offsets for a partition after its revocation could overwrite the new owner's
    /// progress (the broker checks the generation, not who owns the partition), so it is refused here
    /// (DESIGN.md "Delivery guarantees": nothing from a revoked partition is committed after the revoke).
    func clientForCommitting(_ partitions: some Sequence<KafkaTopicPartition>) throws(KafkaError) -> RDKafkaClient {
        try state.withLock { state throws(KafkaError) in
            guard let client = state.client else { throw KafkaError.closed("The consumer") }
            let foreign = partitions.filter { !state.assignment.contains($0) }
            guard foreign.isEmpty else {
                throw KafkaError(
                    code: .commit,
                    message: "Not committing offsets for partitions not assigned to this consumer: "
                        + foreign.map(\.description).sorted().joined(separator: ", ")
                )
            }
            return client
        }
    }

    func assignment() throws(KafkaError) -> [KafkaTopicPartition] {
        try state.withLock { state throws(KafkaError) in
            guard state.client != nil else { throw KafkaError.closed("The consumer") }
            return state.assignment.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
        }
    }

    // MARK: - Close

    /// Asks the poll thread to leave the group and destroy the client; `waiter` resumes when that is done.
    func requestClose(waiter: CheckedContinuation<Void, Never>?) {
        let resumeNow = state.withLock { state -> Bool in
            switch state.lifecycle {
            case .closed:
                return true
            case .closing(var waiters, let error):
                if let waiter { waiters.append(waiter) }
                state.lifecycle = .closing(waiters: waiters, error: error)
            case .created, .running:
                state.lifecycle = .closing(waiters: waiter.map { [$0] } ?? [], error: nil)
                Self.wake(state)
            }
            return false
        }
        if resumeNow { waiter?.resume() }
    }

    /// Why leaving the group failed, once closed.
    var closeError: KafkaError? {
        state.withLock { state in
            if case .closed(let error) = state.lifecycle { error } else { nil }
        }
    }

    var closeRequested: Bool {
        state.withLock { state in
            switch state.lifecycle {
            case .created, .running: false
            case .closing, .closed: true
            }
        }
    }

    /// Called by the poll thread once it has left the group: no more wake-ups, the queue can be destroyed.
    func takeWakeQueue() -> RDKafkaQueue? {
        state.withLock { $0.wakeQueue.take() }
    }

    func recordCloseError(_ error: KafkaError) {
        state.withLock { state in
            if case .closing(let waiters, _) = state.lifecycle {
                state.lifecycle = .closing(waiters: waiters, error: error)
            }
        }
    }

    /// Marks the consumer closed and resumes everyone waiting in ``requestClose(waiter:)``.
    func markClosed() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard case .closing(let waiters, let error) = state.lifecycle else {
                state.lifecycle = .closed(error: nil)
                return []
            }
            state.lifecycle = .closed(error: error)
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
