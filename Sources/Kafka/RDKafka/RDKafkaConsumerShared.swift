import CRdKafka
import Logging
import Synchronization

/// State shared by a ``KafkaConsumer``, its message iterators and its poll thread, plus the poll loop itself.
///
/// Everything mutable is in one `Mutex`. librdkafka calls that only enqueue work (`rd_kafka_pause_partitions`,
/// `rd_kafka_resume_partitions`) are made while holding it, so pause/resume decisions reach librdkafka in the
/// order they were taken; nothing librdkafka calls back into takes this lock except on the poll thread, which
/// never holds it while inside librdkafka's poll.
///
/// Back-pressure: when `messageBufferCapacity` messages wait in the buffer, the poll thread pauses every
/// assigned partition (librdkafka then stops fetching and later re-fetches from the consumed position) and
/// keeps polling, so heartbeats, rebalances and `max.poll.interval.ms` are served while the application is
/// busy. When an iterator drains the buffer, the partitions the application has not paused itself resume.
///
/// librdkafka may resume a partition on its own: when a revocation is served after a quick re-assignment it
/// clears the pause flags of the removed partition, possibly after the new assignment paused it again. So the
/// poll thread treats pauses as requests: messages of partitions the application paused are held back (and
/// the pause is requested again) until ``resume(_:)``, and a full buffer re-pauses the partitions still sending.
final class RDKafkaConsumerShared: Sendable {
    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<KafkaConsumerMessage?, any Error>
    }

    private struct State {
        /// Held until close is requested; from then on only the poll thread has the client.
        var client: RDKafkaClient?
        var buffer = RDKafkaMessageQueue()
        var waiters: [Waiter] = []
        var nextWaiterID: UInt64 = 0
        var finished = false
        var failure: KafkaError?
        var assignment: Set<KafkaTopicPartition> = []
        var pausedByApplication: Set<KafkaTopicPartition> = []
        /// Messages of application-paused partitions that librdkafka delivered anyway, released on resume.
        var heldBack: [KafkaTopicPartition: [KafkaConsumerMessage]] = [:]
        var pausedForBackPressure = false
        var closeRequested = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var closeError: KafkaError?
        var isClosed = false
    }

    private let state = Mutex(State())
    let capacity: Int
    let events: AsyncStream<KafkaConsumerEvent>
    private let eventSink: AsyncStream<KafkaConsumerEvent>.Continuation

    let logger: Logger

    init(capacity: Int, logger: Logger) {
        self.capacity = max(capacity, 1)
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(
            of: KafkaConsumerEvent.self,
            bufferingPolicy: .bufferingNewest(1024)
        )
    }

    func attach(_ client: RDKafkaClient) {
        state.withLock { $0.client = client }
    }

    var client: RDKafkaClient? { state.withLock { $0.client } }

    func emit(_ event: KafkaConsumerEvent) {
        eventSink.yield(event)
    }

    // MARK: - Messages (iterator side)

    /// The next buffered message, waiting for one if the buffer is empty; `nil` at the end.
    ///
    /// One message per call under the lock, so an iterator that is dropped (a `break` out of `for try await`)
    /// never takes messages with it; the poll thread still hands over whole batches, so a waiting iterator is
    /// woken once per batch, not once per message.
    func next() async throws -> KafkaConsumerMessage? {
        let id: UInt64
        switch state.withLock({ Self.take(&$0, capacity: capacity, register: true) }) {
        case .message(let message): return message
        case .end: return nil
        case .failure(let error): throw error
        case .wait(let waiterID): id = waiterID
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let immediate: Result<KafkaConsumerMessage?, any Error>? = state.withLock { state in
                    switch Self.take(&state, capacity: capacity, register: false) {
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

    /// Takes the first buffered message (resuming paused partitions once the buffer has drained to half its
    /// capacity), or says why there is none.
    private static func take(_ state: inout State, capacity: Int, register: Bool) -> Take {
        if let message = state.buffer.popFirst() {
            if state.pausedForBackPressure && state.buffer.count <= capacity / 2 {
                state.pausedForBackPressure = false
                if let client = state.client {
                    let resumable = state.assignment.subtracting(state.pausedByApplication)
                    if !resumable.isEmpty {
                        RDKafkaTopicPartitionList(resumable).withPointer {
                            rd_kafka_resume_partitions(client.handle, $0)
                        }
                    }
                }
            }
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

    // MARK: - Poll thread side

    /// Buffers a batch and wakes waiting iterators (one message each), pausing all partitions when full.
    func deliver(_ batch: [KafkaConsumerMessage], handle: OpaquePointer) {
        let woken = state.withLock { state -> [(Waiter, KafkaConsumerMessage)] in
            if state.finished { return [] }
            var accepted = batch
            if !state.pausedByApplication.isEmpty {
                var stray: Set<KafkaTopicPartition> = []
                accepted.removeAll { message in
                    let partition = message.topicPartition
                    guard state.pausedByApplication.contains(partition) else { return false }
                    state.heldBack[partition, default: []].append(message)
                    stray.insert(partition)
                    return true
                }
                if !stray.isEmpty {
                    RDKafkaTopicPartitionList(stray).withPointer { rd_kafka_pause_partitions(handle, $0) }
                }
            }
            state.buffer.append(contentsOf: accepted)
            if state.buffer.count >= capacity && !state.assignment.isEmpty {
                // Everything when the buffer first fills up; later only the partitions that still send.
                let partitions = state.pausedForBackPressure ? Set(accepted.map(\.topicPartition)) : state.assignment
                state.pausedForBackPressure = true
                if !partitions.isEmpty {
                    RDKafkaTopicPartitionList(partitions).withPointer { rd_kafka_pause_partitions(handle, $0) }
                }
            }
            return Self.wakeWaiters(&state)
        }
        for (waiter, message) in woken { waiter.continuation.resume(returning: message) }
    }

    /// Hands buffered messages to waiting iterators, one each, in order.
    private static func wakeWaiters(_ state: inout State) -> [(Waiter, KafkaConsumerMessage)] {
        var woken: [(Waiter, KafkaConsumerMessage)] = []
        while !state.waiters.isEmpty, let message = state.buffer.popFirst() {
            woken.append((state.waiters.removeFirst(), message))
        }
        return woken
    }

    /// Ends the messages: buffered ones are dropped (the group is left), waiting iterators get `nil`, or the
    /// error first when there is one.
    func finishMessages(with error: KafkaError? = nil) {
        let (waiters, errorForFirst) = state.withLock { state -> ([Waiter], KafkaError?) in
            guard !state.finished else { return ([], nil) }
            state.finished = true
            if error == nil { state.buffer.removeAll() }
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

    // MARK: - Rebalances (poll thread, inside librdkafka's poll)

    func applyRebalance(
        _ handle: OpaquePointer,
        _ err: rd_kafka_resp_err_t,
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) {
        let cooperative = rd_kafka_rebalance_protocol(handle).map { String(cString: $0) } == "COOPERATIVE"
        let partitions = RDKafkaTopicPartitionList.partitions(list)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            if let failure = Self.assign(handle, list, cooperative: cooperative) { emit(.error(failure)) }
            state.withLock { state in
                if !cooperative { state.assignment = [] }
                state.assignment.formUnion(partitions)
                let toPause =
                    state.pausedForBackPressure
                    ? Set(partitions) : Set(partitions).intersection(state.pausedByApplication)
                if !toPause.isEmpty {
                    RDKafkaTopicPartitionList(toPause).withPointer { rd_kafka_pause_partitions(handle, $0) }
                }
            }
            emit(.assigned(partitions))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            if rd_kafka_assignment_lost(handle) != 0 {
                // The member was fenced out of the group (session timeout, unknown member, ...): the partitions
                // may already belong to others, so nothing of them may be committed any more.
                logger.warning(
                    "Consumer group assignment lost",
                    metadata: ["partitions": .string(partitions.map(\.description).joined(separator: ", "))]
                )
            }
            revoke(partitions)
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, list) {
                    emit(
                        .error(
                            KafkaError.consuming(error, fallback: .rebalance, context: "Incremental unassign failed")
                        )
                    )
                }
            } else {
                let result = rd_kafka_assign(handle, nil)
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    emit(.error(KafkaError.rdKafka(result, fallback: .rebalance, context: "Unassign failed")))
                }
            }
        default:
            // A failed rebalance: drop the whole assignment, as librdkafka's documentation asks.
            emit(.error(KafkaError.rdKafka(err, fallback: .rebalance, context: "Rebalance failed")))
            let all = state.withLock { Array($0.assignment) }
            revoke(all)
            if cooperative {
                if let error = rd_kafka_incremental_unassign(handle, list) { rd_kafka_error_destroy(error) }
            } else {
                _ = rd_kafka_assign(handle, nil)
            }
        }
    }

    private static func assign(
        _ handle: OpaquePointer,
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        cooperative: Bool
    ) -> KafkaError? {
        if cooperative {
            guard let error = rd_kafka_incremental_assign(handle, list) else { return nil }
            return KafkaError.consuming(error, fallback: .rebalance, context: "Incremental assign failed")
        }
        let result = rd_kafka_assign(handle, list)
        guard result != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError.rdKafka(result, fallback: .rebalance, context: "Assign failed")
    }

    /// Announces a revocation, then forgets the partitions and drops their buffered messages.
    private func revoke(_ partitions: [KafkaTopicPartition]) {
        emit(.revoked(partitions))
        let revoked = Set(partitions)
        state.withLock { state in
            state.assignment.subtract(revoked)
            state.buffer.removeAll { revoked.contains($0.topicPartition) }
            for partition in revoked { state.heldBack[partition] = nil }
        }
    }

    // MARK: - Pause / resume / assignment (application side)

    func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try state.withLock { state throws(KafkaError) in
            guard let client = state.client else { throw KafkaError.closed("The consumer") }
            state.pausedByApplication.formUnion(partitions)
            // Partitions not assigned yet are paused when they are assigned.
            let assigned = partitions.filter { state.assignment.contains($0) }
            if !assigned.isEmpty {
                let result = RDKafkaTopicPartitionList(assigned).withPointer {
                    rd_kafka_pause_partitions(client.handle, $0)
                }
                if result != RD_KAFKA_RESP_ERR_NO_ERROR {
                    throw KafkaError.rdKafka(result, fallback: .partitionState, context: "Pause failed")
                }
            }
        }
    }

    func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        let (woken, failure) = try state.withLock {
            state throws(KafkaError) -> ([(Waiter, KafkaConsumerMessage)], KafkaError?) in
            guard let client = state.client else { throw KafkaError.closed("The consumer") }
            state.pausedByApplication.subtract(partitions)
            // Held-back messages come first: nothing newer of these partitions was fetched while they waited.
            for partition in partitions {
                if let held = state.heldBack.removeValue(forKey: partition) { state.buffer.append(contentsOf: held) }
            }
            let woken = Self.wakeWaiters(&state)
            // While back-pressure holds everything paused, the drain resumes these.
            let assigned = partitions.filter { state.assignment.contains($0) }
            guard !state.pausedForBackPressure, !assigned.isEmpty else { return (woken, nil) }
            let result = RDKafkaTopicPartitionList(assigned).withPointer {
                rd_kafka_resume_partitions(client.handle, $0)
            }
            guard result == RD_KAFKA_RESP_ERR_NO_ERROR else {
                return (woken, KafkaError.rdKafka(result, fallback: .partitionState, context: "Resume failed"))
            }
            return (woken, nil)
        }
        for (waiter, message) in woken { waiter.continuation.resume(returning: message) }
        if let failure { throw failure }
    }

    /// The client, if every partition in `offsets` is assigned to this member right now.
    ///
    /// Committing for a partition after its revocation could overwrite the new owner's progress (the broker
    /// checks the generation, not who owns the partition), so it is refused here (DESIGN.md "Delivery
    /// guarantees": nothing from a revoked partition is committed after the revoke).
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
            if state.isClosed { return true }
            if let waiter { state.closeWaiters.append(waiter) }
            state.closeRequested = true
            state.client = nil
            return false
        }
        if resumeNow { waiter?.resume() }
    }

    var closeError: KafkaError? { state.withLock { $0.closeError } }

    private var closeRequested: Bool { state.withLock { $0.closeRequested } }

    // MARK: - Poll loop

    /// The poll thread: polls until close is requested, then leaves the group (serving the last revocation),
    /// ends both sequences and destroys the client by dropping the last reference to it.
    static func pollLoop(client reference: Unmanaged<RDKafkaClient>, shared: RDKafkaConsumerShared) {
        pollAndClose(client: reference.takeRetainedValue(), shared: shared)
        let waiters = shared.state.withLock { state in
            state.isClosed = true
            defer { state.closeWaiters = [] }
            return state.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Messages gathered per wake-up before they are handed over in one batch.
    private static let maximumBatch = 2048

    private static func pollAndClose(client: RDKafkaClient, shared: RDKafkaConsumerShared) {
        let handle = client.handle
        var reader = RDKafkaMessageReader()
        var batch: [KafkaConsumerMessage] = []
        batch.reserveCapacity(maximumBatch)
        while !shared.closeRequested {
            guard var message = rd_kafka_consumer_poll(handle, 100) else { continue }
            // Gather what is already fetched without waiting, then hand it over at once.
            while true {
                shared.handle(message, reader: &reader, into: &batch, context: client.context)
                guard batch.count < maximumBatch, let more = rd_kafka_consumer_poll(handle, 0) else { break }
                message = more
            }
            if !batch.isEmpty {
                shared.deliver(batch, handle: handle)
                batch.removeAll(keepingCapacity: true)
            }
        }
        let result = rd_kafka_consumer_close(handle)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            let error = KafkaError.rdKafka(result, fallback: .consumer, context: "Leaving the consumer group failed")
            client.context.logger.warning("\(error)")
            shared.state.withLock { $0.closeError = error }
        }
        shared.finishMessages()
        shared.eventSink.finish()
    }

    /// Converts and destroys one message from `rd_kafka_consumer_poll`; errors become events.
    private func handle(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>,
        reader: inout RDKafkaMessageReader,
        into batch: inout [KafkaConsumerMessage],
        context: RDKafkaClientContext
    ) {
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            batch.append(reader.read(message))
            return
        }
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
        let error = KafkaError.rdKafka(err, fallback: .consumer, context: context.scrub(text))
        context.logger.warning("Consumer error: \(error)")
        emit(.error(error))
        if error.isFatal { finishMessages(with: error) }
    }
}
