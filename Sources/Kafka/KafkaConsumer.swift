import Dispatch
import Logging

import struct Foundation.Date

/// Consumes records as a member of a consumer group.
///
/// A dedicated poll thread (`rd_kafka_consumer_poll`, never the cooperative pool) feeds ``messages`` in batches
/// through a buffer bounded in messages and bytes and keeps polling while the application is busy: when the
/// buffer is full every assigned partition is paused, and resumed once an iterator drains it, so heartbeats and
/// rebalances are always served. Offsets move only when the application says so: ``commit(_:)`` /
/// ``commitAsync(_:)``, or ``storeOffsets(_:)`` with ``KafkaOffsetCommit/storedOffsets(interval:)``, where
/// librdkafka commits what was stored periodically, on revocation and on close. Rebalances are applied by the
/// poll thread for eager (`rd_kafka_assign`) and cooperative (`rd_kafka_incremental_assign`) protocols, reported
/// on ``events``, and revocations are first handed to the revocation handler, synchronously, while the
/// partitions are still assigned.
///
/// - Important: Call ``close()`` when done: it leaves the group and ends both sequences. Dropping the consumer
///   without closing does the same in the background.
public final class KafkaConsumer: Sendable {
    let shared: RDKafkaConsumerShared
    private let logger: Logger
    /// Runs blocking librdkafka calls (`rd_kafka_commit`, `rd_kafka_committed`) off the cooperative pool.
    private let blockingQueue: DispatchQueue

    /// Creates a consumer and starts its poll thread; call ``subscribe(topics:)`` to join the group.
    /// - Parameters:
    ///   - configuration: The settings; unknown or invalid properties are rejected here.
    ///   - logger: Receives librdkafka's logs (secret values scrubbed).
    ///   - revocationHandler: Called on the poll thread, synchronously, when partitions are revoked (by a
    ///     rebalance, or by ``close()``), before they are given up: while it runs they are still assigned, so it
    ///     can finish their work and ``storeOffsets(_:)`` or ``commitAsync(_:)`` them; once it returns their
    ///     buffered messages are dropped, and with ``KafkaOffsetCommit/storedOffsets(interval:)`` librdkafka
    ///     commits the stored offsets. Heartbeats go on while it runs, but the group's rebalance waits for it
    ///     (up to `max.poll.interval.ms`), so keep it bounded. It must not call ``close()``.
    ///   - assignmentHandler: Called on the poll thread, synchronously, when partitions are assigned (the newly
    ///     assigned ones: the whole assignment for the eager protocols), before any message of them is handed
    ///     out, so an application can set up what it keeps per partition before it sees the partition's records.
    ///     Keep it short; it must not call ``close()``.
    /// - Throws: ``KafkaError`` `.config` naming a rejected property, `.libraryVersion` or `.clientCreation`.
    public init(
        configuration: KafkaConsumerConfiguration,
        logger: Logger,
        revocationHandler: (@Sendable (KafkaConsumerRevocation) -> Void)? = nil,
        assignmentHandler: (@Sendable ([KafkaTopicPartition]) -> Void)? = nil
    ) throws(KafkaError) {
        let properties = configuration.rdKafkaProperties
        let shared = RDKafkaConsumerShared(
            capacity: configuration.messageBufferCapacity,
            byteCapacity: configuration.messageBufferBytes,
            startTime: configuration.startTime,
            configuredCooperative: configuration.usesCooperativeRebalancing,
            logger: logger,
            revocationHandler: revocationHandler,
            assignmentHandler: assignmentHandler
        )
        // The context (owned by the client, which `shared` holds until close) refers back weakly.
        let context = RDKafkaClientContext(
            logger: logger,
            secrets: RDKafkaConfig.secretValues(properties),
            onRebalance: { [weak shared] handle, err, partitions in
                shared?.applyRebalance(handle, err, partitions)
            },
            onError: { [weak shared] error in
                shared?.emit(.error(error))
                if error.isFatal { shared?.finishMessages(with: error) }
            }
        )
        let client = try RDKafkaClient.consumer(properties: properties, context: context)
        guard let wakeQueue = RDKafkaQueue(consumerOf: client) else {
            throw KafkaError(code: .clientCreation, message: "librdkafka gave the consumer no queue")
        }
        shared.attach(client, wakeQueue: wakeQueue)
        self.shared = shared
        self.logger = logger
        self.blockingQueue = DispatchQueue(label: "kafka.consumer.blocking")
        let reference = Unmanaged.passRetained(client)
        DedicatedThread.start(name: "kafka-consumer-poll") {
            RDKafkaConsumerShared.pollLoop(client: reference, shared: shared)
        }
        logger.debug("Kafka consumer started", metadata: ["client": .string(client.name)])
    }

    deinit {
        shared.requestClose(waiter: nil)
    }

    /// Joins the group for these topics (replacing an earlier subscription).
    /// - Parameter topics: Topic names; a name starting with `^` is a regular expression.
    /// - Throws: ``KafkaError`` when librdkafka refuses the subscription, `.closed` after ``close()``.
    public func subscribe(topics: [String]) throws(KafkaError) {
        guard let client = shared.client else { throw KafkaError.closed("The consumer") }
        try client.subscribe(topics: topics)
    }

    /// Reads these partitions without joining the group (`rd_kafka_assign`; replaces an earlier assignment): each
    /// from its first record at or after `time`, from its end when there is none, and from `auto.offset.reset` when
    /// the lookup fails. For a reader that wants every partition itself and no group's join (a join takes seconds);
    /// nothing is committed for it and no revocation handler runs.
    /// - Throws: ``KafkaError`` when librdkafka refuses the assignment, `.closed` after ``close()``.
    public func assign(_ partitions: [KafkaTopicPartition], startingAt time: Date) async throws(KafkaError) {
        guard let client = shared.client else { throw KafkaError.closed("The consumer") }
        let shared = self.shared
        let failure: KafkaError? = await DedicatedThread.run(on: blockingQueue) {
            shared.assignWithoutGroup(partitions, at: time, handle: client.handle)
        }
        if let failure { throw failure }
    }

    /// The messages, fed by the poll thread; ends when the consumer is closed.
    public var messages: KafkaConsumerMessages { KafkaConsumerMessages(shared: shared) }

    /// Assignments, revocations and errors; ends when the consumer is closed. All iterators share one stream,
    /// so iterate it from one task at a time.
    public var events: KafkaConsumerEvents { KafkaConsumerEvents(stream: shared.events) }

    /// Commits offsets and waits for the group coordinator to confirm them (`rd_kafka_commit`, synchronous,
    /// run off the cooperative pool).
    ///
    /// - Parameter offsets: Per partition, the next offset to read: the last processed offset + 1.
    /// - Throws: ``KafkaError`` `.commit` (or a more specific code) when the commit or any partition failed,
    ///   or when a partition is not assigned to this consumer (any more: after its revocation the next owner's
    ///   progress must not be overwritten); `.closed` after ``close()``.
    public func commit(_ offsets: [KafkaTopicPartition: Int64]) async throws(KafkaError) {
        guard !offsets.isEmpty else { return }
        let client = try shared.clientForCommitting(offsets.keys)
        let positions = offsets.mapValues { KafkaOffsetAndMetadata(offset: $0) }
        let failure: KafkaError? = await DedicatedThread.run(on: blockingQueue) {
            client.commit(positions, async: false)
        }
        if let failure { throw failure }
    }

    /// Starts committing offsets and returns at once; failures are logged (warning).
    /// - Parameter offsets: Per partition, the next offset to read: the last processed offset + 1.
    /// - Throws: ``KafkaError`` `.commit` when librdkafka refuses to start the commit or a partition is not
    ///   assigned to this consumer, `.closed` after ``close()``.
    public func commitAsync(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        try commitAsync(offsets.mapValues { KafkaOffsetAndMetadata(offset: $0) })
    }

    /// Starts committing positions with their metadata and returns at once; failures are logged (warning).
    ///
    /// - Important: With ``KafkaOffsetCommit/storedOffsets(interval:)``, store the same positions too: librdkafka
    ///   commits the stored ones again on revocation and on close, even when only their metadata is older.
    /// - Throws: As ``commitAsync(_:)-(Dictionary<KafkaTopicPartition,Int64>)``.
    public func commitAsync(_ positions: [KafkaTopicPartition: KafkaOffsetAndMetadata]) throws(KafkaError) {
        guard !positions.isEmpty else { return }
        let client = try shared.clientForCommitting(positions.keys)
        if let failure = client.commit(positions, async: true) { throw failure }
    }

    /// Stores offsets for librdkafka to commit (`rd_kafka_offsets_store`): with
    /// ``KafkaOffsetCommit/storedOffsets(interval:)`` they are committed every interval, on revocation and on
    /// close. Local and cheap (no request); callable from any thread, including delivery-report callbacks.
    ///
    /// - Parameter offsets: Per partition, the next offset to read: the last processed offset + 1.
    /// - Throws: ``KafkaError`` `.commit` when a partition is not assigned to this consumer (any more), or
    ///   librdkafka refuses the offsets; `.closed` after ``close()``.
    public func storeOffsets(_ offsets: [KafkaTopicPartition: Int64]) throws(KafkaError) {
        try storeOffsets(offsets.mapValues { KafkaOffsetAndMetadata(offset: $0) })
    }

    /// Stores positions with their metadata for librdkafka to commit, as ``storeOffsets(_:)-(Dictionary<KafkaTopicPartition,Int64>)``.
    ///
    /// - Important: librdkafka's periodic commit sends a partition only when its stored *offset* differs from the
    ///   committed one: metadata stored with an unchanged offset is committed with the next move, on revocation
    ///   or on close, not before. Use ``commitAsync(_:)-(Dictionary<KafkaTopicPartition,KafkaOffsetAndMetadata>)``
    ///   to commit such a change now.
    public func storeOffsets(_ positions: [KafkaTopicPartition: KafkaOffsetAndMetadata]) throws(KafkaError) {
        guard !positions.isEmpty else { return }
        let client = try shared.clientForCommitting(positions.keys)
        let failure = client.storeOffsets(positions)
        if let failure { throw failure }
    }

    /// Reads the group's committed offsets (`rd_kafka_committed`, run off the cooperative pool).
    /// - Parameters:
    ///   - partitions: The partitions to ask about.
    ///   - timeout: The longest wait for the coordinator.
    /// - Returns: The committed next offset per partition; partitions without a committed offset are absent.
    /// - Throws: ``KafkaError`` `.timedOut`, `.commit` or `.closed`.
    public func committed(
        _ partitions: [KafkaTopicPartition],
        timeout: Duration
    ) async throws(KafkaError) -> [KafkaTopicPartition: Int64] {
        try await committedPositions(partitions, timeout: timeout).mapValues(\.offset)
    }

    /// Reads the group's committed positions with their metadata (`rd_kafka_committed`, run off the cooperative
    /// pool). Partitions without a committed offset are absent. Throws as ``committed(_:timeout:)``.
    public func committedPositions(
        _ partitions: [KafkaTopicPartition],
        timeout: Duration
    ) async throws(KafkaError) -> [KafkaTopicPartition: KafkaOffsetAndMetadata] {
        let result: Result<[KafkaTopicPartition: KafkaOffsetAndMetadata], KafkaError> = await DedicatedThread.run(
            on: blockingQueue
        ) {
            Result { () throws(KafkaError) in try self.committedPositionsBlocking(partitions, timeout: timeout) }
        }
        return try result.get()
    }

    /// Reads the group's committed positions with their metadata and waits for the answer on the calling thread:
    /// for the assignment and revocation handlers, which run on the poll thread and must have the answer before
    /// they return. Anywhere else use ``committedPositions(_:timeout:)``. Throws as ``committed(_:timeout:)``.
    public func committedPositionsBlocking(
        _ partitions: [KafkaTopicPartition],
        timeout: Duration
    ) throws(KafkaError) -> [KafkaTopicPartition: KafkaOffsetAndMetadata] {
        guard let client = shared.client else { throw KafkaError.closed("The consumer") }
        guard !partitions.isEmpty else { return [:] }
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        )
        let result = client.committed(partitions, milliseconds: milliseconds)
        return try result.get()
    }

    /// The number of partitions of `topic`, from the cluster's metadata (`rd_kafka_metadata`, run off the
    /// cooperative pool).
    /// - Throws: ``KafkaError`` `.unknownTopic`, `.timedOut` or `.closed`.
    public func partitionCount(of topic: String, timeout: Duration) async throws(KafkaError) -> Int {
        guard let client = shared.client else { throw KafkaError.closed("The consumer") }
        let milliseconds = Int32(
            clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000
        )
        let result: Result<Int, KafkaError> = await DedicatedThread.run(on: blockingQueue) {
            client.partitionCount(of: topic, milliseconds: milliseconds)
        }
        return try result.get()
    }

    /// Stops fetching these partitions until ``resume(_:)`` or their revocation; the group membership is
    /// unaffected.
    ///
    /// Returns at once: the poll thread applies the pause (librdkafka's call waits for broker threads). Messages
    /// already buffered are still delivered; none fetched later are handed out until ``resume(_:)``. Partitions not
    /// assigned yet are paused when they are assigned; a revoked partition is no longer paused (when it is
    /// assigned again it is fetched, as in Kafka's Java client).
    /// - Throws: ``KafkaError`` `.partitionState` or `.closed`.
    public func pause(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try shared.pause(partitions)
    }

    /// Fetches these partitions again after ``pause(_:)``. While the consumer's own back-pressure holds all
    /// partitions paused, they resume when the buffer drains.
    /// - Throws: ``KafkaError`` `.partitionState` or `.closed`.
    public func resume(_ partitions: [KafkaTopicPartition]) throws(KafkaError) {
        try shared.resume(partitions)
    }

    /// The partitions assigned to this member, as of the last rebalance the poll thread applied.
    public var assignment: [KafkaTopicPartition] {
        get throws(KafkaError) { try shared.assignment() }
    }

    /// How far each partition goes and how far this consumer has read, from what librdkafka already knows (its
    /// cached high watermark from fetch responses and the consumer's position; no request is sent). For the
    /// consumer lag: the high watermark minus the processed (or committed) offset.
    /// - Returns: Per partition with a known high watermark: it, and the position (`nil` before the first fetch).
    public func readProgress(of partitions: [KafkaTopicPartition]) -> [KafkaTopicPartition: (
        highWatermark: Int64, position: Int64?
    )] {
        guard let client = shared.client, !partitions.isEmpty else { return [:] }
        return client.readProgress(of: partitions)
    }

    /// Leaves the group (`rd_kafka_consumer_close`, serving the last revocation), ends ``messages`` and
    /// ``events``, and destroys the client. Safe to call more than once.
    /// - Throws: ``KafkaError`` when leaving the group reported an error (the client is destroyed anyway).
    public func close() async throws(KafkaError) {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            shared.requestClose(waiter: continuation)
        }
        logger.debug("Kafka consumer closed")
        if let error = shared.closeError { throw error }
    }
}
