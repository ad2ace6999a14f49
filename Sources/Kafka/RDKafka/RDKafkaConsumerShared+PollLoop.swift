import CRdKafka
import Foundation
import Logging

// MARK: - RDKafkaConsumerShared + Poll loop and rebalances (poll thread)

extension RDKafkaConsumerShared {
    /// Messages gathered per wake-up before they are handed over in one batch.
    private static let maximumBatch = 2048

    /// The poll thread: polls until close is requested, then leaves the group (serving the last revocation),
    /// ends both sequences and destroys the client by dropping the last reference to it.
    static func pollLoop(client reference: Unmanaged<RDKafkaClient>, shared: RDKafkaConsumerShared) {
        pollAndClose(client: reference.takeRetainedValue(), shared: shared)
        shared.markClosed()
    }

    private static func pollAndClose(client: RDKafkaClient, shared: RDKafkaConsumerShared) {
        let handle = client.handle
        var reader = RDKafkaMessageReader()
        while !shared.closeRequested {
            shared.applyPauses(handle: handle)
            guard var message = rd_kafka_consumer_poll(handle, 100) else { continue }
            // Gather what is already fetched without waiting (at most what the buffer has room for), then hand it
            // over at once. A rebalance served by one of these polls drops the gathered messages it revokes.
            let room = shared.room
            let most = min(maximumBatch, max(room.messages, 1))
            let roomInBytes = max(room.bytes, 1)
            while true {
                shared.handle(message, reader: &reader, context: client.context)
                let thread = shared.pollThread
                guard thread.gathered.count < most, thread.gatheredBytes < roomInBytes,
                    let more = rd_kafka_consumer_poll(handle, 0)
                else { break }
                message = more
            }
            let batch = shared.pollThread.takeGathered()
            if !batch.isEmpty { shared.deliver(batch) }
        }
        let result = rd_kafka_consumer_close(handle)
        if result != RD_KAFKA_RESP_ERR_NO_ERROR {
            let error = KafkaError.rdKafka(result, fallback: .consumer, context: "Leaving the consumer group failed")
            client.context.logger.warning("\(error)")
            shared.recordCloseError(error)
        }
        shared.takeWakeQueue()?.destroy()
        shared.finishMessages()
        shared.finishEvents()
    }

    /// Applies the wanted pauses in librdkafka (blocking calls: poll thread only, no lock held).
    func applyPauses(handle: OpaquePointer) {
        for error in pollThread.applyPauses(desiredPauses, handle: handle) {
            logger.warning("\(error)")
        }
    }

    /// Converts and destroys one message from `rd_kafka_consumer_poll`; errors become events.
    private func handle(
        _ message: UnsafeMutablePointer<rd_kafka_message_t>,
        reader: inout RDKafkaMessageReader,
        context: RDKafkaClientContext
    ) {
        defer { rd_kafka_message_destroy(message) }
        let err = message.pointee.err
        if err == RD_KAFKA_RESP_ERR_NO_ERROR {
            pollThread.gather(reader.read(message))
            return
        }
        if err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return }
        let text = rd_kafka_message_errstr(message).map { String(cString: $0) } ?? ""
        let error = KafkaError.rdKafka(err, fallback: .consumer, context: context.scrub(text))
        context.logger.warning("Consumer error: \(error)")
        emit(.error(error))
        if error.isFatal { finishMessages(with: error) }
    }

    // MARK: - Rebalances (inside librdkafka's poll)

    func applyRebalance(
        _ handle: OpaquePointer,
        _ err: rd_kafka_resp_err_t,
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
    ) {
        let cooperative = isCooperative(handle)
        let partitions = RDKafkaTopicPartitionList.partitions(list)
        switch err {
        case RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS:
            let failure: KafkaError?
            if let startTime, let list {
                // A copy with the offsets of the start time (librdkafka owns the callback's list).
                let positioned = rd_kafka_topic_partition_list_copy(list)!
                defer { rd_kafka_topic_partition_list_destroy(positioned) }
                position(positioned, at: startTime, handle: handle)
                failure = Self.assign(handle, positioned, cooperative: cooperative)
            } else {
                failure = Self.assign(handle, list, cooperative: cooperative)
            }
            if let failure { report(failure) }
            syncAssignment(handle, assigned: partitions, cooperative: cooperative)
            applyPauses(handle: handle)
            // Before this poll returns, so before any message of these partitions is delivered; only the ones
            // librdkafka took (a failed assign leaves them out).
            let taken = assignedPartitions
            assignmentHandler?(partitions.filter { taken.contains($0) })
            emit(.assigned(partitions))
        case RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS:
            let lost = rd_kafka_assignment_lost(handle) != 0
            if lost {
                // The member was fenced out of the group (session timeout, unknown member, ...): the partitions
                // may already belong to others, so nothing of them may be committed any more.
                logger.warning(
                    "Consumer group assignment lost",
                    metadata: ["partitions": .string(partitions.map(\.description).joined(separator: ", "))]
                )
            }
            revoke(partitions, lost: lost)
            if let failure = Self.unassign(handle, list, cooperative: cooperative) { report(failure) }
            syncAssignment(handle, assigned: [], cooperative: cooperative)
            applyPauses(handle: handle)
        default:
            // A failed rebalance: drop the whole assignment, as librdkafka's documentation asks.
            report(KafkaError.rdKafka(err, fallback: .rebalance, context: "Rebalance failed"))
            revoke(Array(assignedPartitions), lost: true)
            _ = Self.unassign(handle, list, cooperative: cooperative)
            syncAssignment(handle, assigned: [], cooperative: cooperative)
            applyPauses(handle: handle)
        }
    }

    /// Whether the group's rebalances are incremental: librdkafka's answer, or (when it says `NONE` because the
    /// protocol is not settled at this moment) what the configured assignment strategies imply.
    private func isCooperative(_ handle: OpaquePointer) -> Bool {
        switch rd_kafka_rebalance_protocol(handle).map({ String(cString: $0) }) {
        case "COOPERATIVE": true
        case "EAGER": false
        default: configuredCooperative
        }
    }

    /// A failure inside a rebalance: an event for the application, and a warning in the log (the application may
    /// not read the events, and a partition that is not assigned is silent otherwise).
    private func report(_ failure: KafkaError) {
        logger.warning("Consumer group rebalance: \(failure)")
        emit(.error(failure))
    }

    /// Takes librdkafka's assignment as this consumer's (messages of other partitions are dropped, so the two must
    /// never disagree); when it cannot be read, applies `assigned` as the protocol says.
    ///
    /// Not while the consumer closes: `rd_kafka_consumer_close` serves the last revocation itself, and asking for
    /// the assignment from there waits for the group's handler, which may be gone by then, for ever (seen in 2 of about
    /// 60 runs of the unit tests, the poll thread waiting in `rd_kafka_assignment` under `rd_kafka_consumer_close`).
    private func syncAssignment(_ handle: OpaquePointer, assigned: [KafkaTopicPartition], cooperative: Bool) {
        if closeRequested {
            noteAssigned(assigned, replacing: !cooperative)
            return
        }
        var current: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?
        let result = rd_kafka_assignment(handle, &current)
        defer { if let current { rd_kafka_topic_partition_list_destroy(current) } }
        guard result == RD_KAFKA_RESP_ERR_NO_ERROR, let current else {
            noteAssigned(assigned, replacing: !cooperative)
            return
        }
        setAssignment(Set(RDKafkaTopicPartitionList.partitions(current)))
    }

    /// Sets each partition's offset to its first record at or after `time` (its end when there is none); on a
    /// failed lookup, leaves every offset unset (the committed offset or `auto.offset.reset` applies).
    private func position(
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>,
        at time: Date,
        handle: OpaquePointer
    ) {
        let elements = RDKafkaTopicPartitionList.elements(list)
        let milliseconds = Int64((time.timeIntervalSince1970 * 1000).rounded(.down))
        for index in elements.indices { elements[index].offset = milliseconds }
        // Blocks the poll thread for one round trip (bounded); heartbeats go on in librdkafka's threads.
        let result = rd_kafka_offsets_for_times(handle, list, 10_000)
        let failed = result != RD_KAFKA_RESP_ERR_NO_ERROR || RDKafkaTopicPartitionList.firstError(list) != nil
        for index in elements.indices {
            if failed {
                elements[index].offset = Int64(RD_KAFKA_OFFSET_INVALID)
            } else if elements[index].offset < 0 {
                // No record at or after the time: start at the end.
                elements[index].offset = Int64(RD_KAFKA_OFFSET_END)
            }
        }
        if failed {
            logger.warning(
                "Looking up the offsets of the start time failed; reading from the committed offsets",
                metadata: ["error": .string(String(cString: rd_kafka_err2str(result)))]
            )
        }
    }

    /// Assigns `partitions` without a group (``KafkaConsumer/assign(_:startingAt:)``), each at its first record at or
    /// after `time` (its end when there is none). Blocking (one offset lookup): off the cooperative pool. The poll
    /// thread applies pauses on its next round.
    func assignWithoutGroup(_ partitions: [KafkaTopicPartition], at time: Date, handle: OpaquePointer) -> KafkaError? {
        guard let list = rd_kafka_topic_partition_list_new(Int32(partitions.count)) else {
            return KafkaError(code: .consumer, message: "librdkafka gave no partition list")
        }
        defer { rd_kafka_topic_partition_list_destroy(list) }
        for partition in partitions { rd_kafka_topic_partition_list_add(list, partition.topic, partition.partition) }
        position(list, at: time, handle: handle)
        // Recorded before librdkafka fetches: the poll thread drops messages of partitions not in the assignment.
        noteAssigned(partitions, replacing: true)
        if let failure = Self.assign(handle, list, cooperative: false) {
            setAssignment([])
            return failure
        }
        syncAssignment(handle, assigned: partitions, cooperative: false)
        return nil
    }

    /// Assigns `list`: incrementally (cooperative) or as the whole assignment (eager).
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

    /// Gives up `list` (cooperative) or the whole assignment (eager).
    private static func unassign(
        _ handle: OpaquePointer,
        _ list: UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
        cooperative: Bool
    ) -> KafkaError? {
        if cooperative {
            guard let list, let error = rd_kafka_incremental_unassign(handle, list) else { return nil }
            return KafkaError.consuming(error, fallback: .rebalance, context: "Incremental unassign failed")
        }
        let result = rd_kafka_assign(handle, nil)
        guard result != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return KafkaError.rdKafka(result, fallback: .rebalance, context: "Unassign failed")
    }

    /// Announces a revocation: drops the partitions' messages not yet handed out, lets the application finish
    /// (the partitions are still assigned while its handler runs, so it can store or commit their offsets), then
    /// forgets the partitions.
    func revoke(_ partitions: [KafkaTopicPartition], lost: Bool) {
        guard !partitions.isEmpty else { return }
        let revoked = Set(partitions)
        dropMessages(of: revoked)
        emit(.revoked(partitions))
        revocationHandler?(KafkaConsumerRevocation(partitions: partitions, isLost: lost))
        removeFromAssignment(revoked)
    }
}
