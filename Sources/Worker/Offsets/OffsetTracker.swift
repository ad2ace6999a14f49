import Kafka
import Synchronization

/// The watermarks of every partition this worker owns, and the one place offsets are stored for commit.
///
/// The intake registers each consumed offset; delivery reports complete them; whenever a partition's watermark
/// moves, the new offset is stored for librdkafka to commit (`store`, called with the lock held so that a
/// revocation, which takes the same lock, orders strictly before or after it). A revoked partition is forgotten:
/// completions of its old jobs, which may still be acknowledged later, store nothing.
///
/// Ownership starts only with an assignment (``assign(_:)``, called by the consumer's assignment hook on its poll
/// thread before any record of the partition is handed out), never on first sight of a record: a record handed
/// over just before its partition was revoked is refused by ``register(_:offset:)``, so it cannot open an epoch of
/// a partition this worker does not own (which would skip the offsets below it when the partition came back).
/// Each registration belongs to an epoch of the partition's ownership, so a job from before a revocation cannot
/// complete an offset of the same partition owned again later.
///
/// Every stored watermark carries the partition's ``OffsetMap`` (the offsets done above it) in its metadata, and
/// ``commitChangedMaps()`` commits the maps that grew while a slow offset held the watermark still (librdkafka's
/// periodic commit sends only offsets that moved). An assignment reads the committed map back: its offsets are
/// ``Registration/skipped`` when they come again, so a crash re-runs only what was in flight.
public final class OffsetTracker: Sendable {
    /// A registered offset: what a job carries to complete it.
    public struct Ticket: Sendable, Hashable {
        /// The ownership it was registered in.
        public var ownership: PartitionOwnership
        /// The offset.
        public var offset: Int64

        /// The partition.
        public var partition: KafkaTopicPartition { ownership.partition }
    }

    /// What ``register(_:offset:)`` made of a consumed offset.
    public enum Registration: Sendable, Equatable {
        /// Run it: the ticket completes its offset.
        case run(Ticket)
        /// Done before (the committed offset map says so): it is marked done again without running.
        case skipped
        /// Not owned (not assigned, or being revoked), or a re-delivery of an offset registered in this epoch.
        case refused

        /// The ticket to run with, when there is one.
        public var ticket: Ticket? {
            if case .run(let ticket) = self { ticket } else { nil }
        }
    }

    private struct Owned {
        var ownership: PartitionOwnership
        var watermark = PartitionWatermark()
        /// Offsets the committed map says were done: skipped when they are read again.
        var skip: Set<Int64> = []
        /// The done offsets above the watermark changed since they were last stored.
        var mapChanged = false
    }

    private struct State {
        var partitions: [KafkaTopicPartition: Owned] = [:]
        /// Partitions being revoked: nothing new is registered for them until they are forgotten.
        var fenced: Set<KafkaTopicPartition> = []
        var nextEpoch: UInt64 = 1
    }

    private let state = Mutex(State())
    private let store: @Sendable ([KafkaTopicPartition: KafkaOffsetAndMetadata]) -> Void
    private let commit: @Sendable ([KafkaTopicPartition: KafkaOffsetAndMetadata]) -> Bool

    /// Creates a tracker.
    /// - Parameters:
    ///   - store: Stores a moved watermark, with its offset map, for commit (the worker's consumer's
    ///     `storeOffsets`).
    ///   - commit: Starts committing a position now (the consumer's `commitAsync`), for maps that changed while
    ///     the watermark did not move; `false` when it could not start (the maps are tried again at the next call).
    ///   Both are called with the tracker's lock held, so they must not call back into the tracker.
    public init(
        store: @escaping @Sendable ([KafkaTopicPartition: KafkaOffsetAndMetadata]) -> Void,
        commit: @escaping @Sendable ([KafkaTopicPartition: KafkaOffsetAndMetadata]) -> Bool = { _ in true }
    ) {
        self.store = store
        self.commit = commit
    }

    /// Starts owning partitions (they were assigned): each gets a new epoch; one owned already keeps its own.
    /// - Parameter committed: The group's committed positions of these partitions, when known: their offset maps
    ///   name the offsets to skip.
    /// - Returns: How many offsets each partition's committed map lets the worker skip (partitions with none are
    ///   absent).
    @discardableResult
    public func assign(
        _ partitions: some Sequence<KafkaTopicPartition>,
        committed: [KafkaTopicPartition: KafkaOffsetAndMetadata] = [:]
    ) -> [KafkaTopicPartition: Int] {
        state.withLock { state in
            var skipped: [KafkaTopicPartition: Int] = [:]
            for partition in partitions where state.partitions[partition] == nil {
                state.fenced.remove(partition)
                var owned = Owned(ownership: PartitionOwnership(partition: partition, epoch: state.nextEpoch))
                if let position = committed[partition],
                    let map = OffsetMap(metadata: position.metadata, committedOffset: position.offset),
                    !map.done.isEmpty
                {
                    owned.skip = Set(map.done)
                    skipped[partition] = map.done.count
                }
                state.partitions[partition] = owned
                state.nextEpoch += 1
            }
            return skipped
        }
    }

    /// Registers a consumed offset.
    /// - Returns: A ticket to run it with; ``Registration/skipped`` when the committed map says it was done (it
    ///   is marked done at once); ``Registration/refused`` when the partition is not owned (not assigned, or being
    ///   revoked) or the offset is a re-delivery of one already registered in this epoch.
    public func register(_ partition: KafkaTopicPartition, offset: Int64) -> Registration {
        state.withLock { state in
            guard !state.fenced.contains(partition), state.partitions[partition] != nil else { return .refused }
            // In place (a copy of the entry would copy its arrays).
            guard state.partitions[partition]!.watermark.register(offset) else { return .refused }
            let ticket = Ticket(ownership: state.partitions[partition]!.ownership, offset: offset)
            guard state.partitions[partition]!.skip.remove(offset) != nil else { return .run(ticket) }
            Self.complete(ticket, in: &state.partitions[partition]!, store: store)
            return .skipped
        }
    }

    /// Marks a ticket's offset done (its output was acknowledged); stores the watermark when it moves.
    public func complete(_ ticket: Ticket) {
        state.withLock { state in
            guard state.partitions[ticket.partition]?.ownership == ticket.ownership else { return }
            Self.complete(ticket, in: &state.partitions[ticket.partition]!, store: store)
        }
    }

    private static func complete(
        _ ticket: Ticket,
        in owned: inout Owned,
        store: ([KafkaTopicPartition: KafkaOffsetAndMetadata]) -> Void
    ) {
        guard let moved = owned.watermark.complete(ticket.offset) else {
            // Done above the watermark: only the map changed (committed by ``commitChangedMaps()``).
            owned.mapChanged = true
            return
        }
        owned.mapChanged = false
        store([ticket.partition: position(at: moved, of: owned)])
    }

    /// The position to commit at `offset`, with the offsets done above it: those done in this ownership, and those
    /// the previous owner's map named that have not been read again yet (else a commit before they are re-read
    /// would forget them, and the next owner would run them again).
    private static func position(at offset: Int64, of owned: Owned) -> KafkaOffsetAndMetadata {
        let inherited = owned.skip.filter { $0 > offset }
        guard owned.watermark.pendingCount > 1 || !inherited.isEmpty else { return KafkaOffsetAndMetadata(offset: offset) }
        let map = OffsetMap(base: offset, done: owned.watermark.doneAboveCommitPoint + inherited)
        return KafkaOffsetAndMetadata(offset: offset, metadata: map.metadata)
    }

    /// Stores and commits the position of every partition whose done offsets above a still watermark changed since
    /// they were last stored (call it every commit interval, before partitions are given up, and before the consumer
    /// closes). Partitions being revoked are left to the revocation, which names them.
    /// - Parameter partitions: Only these (all owned partitions when `nil`).
    /// - Returns: The positions committed.
    @discardableResult
    public func commitChangedMaps(of partitions: Set<KafkaTopicPartition>? = nil) -> [KafkaTopicPartition: KafkaOffsetAndMetadata] {
        state.withLock { state in
            var positions: [KafkaTopicPartition: KafkaOffsetAndMetadata] = [:]
            for (partition, owned) in state.partitions where owned.mapChanged && partitions?.contains(partition) != false {
                // A partition being revoked (or lost) is committed by its revocation alone, when asked by name.
                if partitions == nil, state.fenced.contains(partition) { continue }
                guard let point = owned.watermark.commitPoint else { continue }
                positions[partition] = Self.position(at: point, of: owned)
                state.partitions[partition]!.mapChanged = false
            }
            guard !positions.isEmpty else { return [:] }
            store(positions)
            guard commit(positions) else {
                for partition in positions.keys { state.partitions[partition]?.mapChanged = true }
                return [:]
            }
            return positions
        }
    }

    /// Starts revoking partitions: offsets of them are no longer registered (completions still count).
    /// - Returns: The ownerships that end (of the partitions that have one).
    public func fence(_ partitions: Set<KafkaTopicPartition>) -> Set<PartitionOwnership> {
        state.withLock { state in
            state.fenced.formUnion(partitions)
            return Set(partitions.compactMap { state.partitions[$0]?.ownership })
        }
    }

    /// Forgets partitions (revoked or lost). Later completions of their tickets store nothing.
    /// - Returns: The committable offsets they had (already stored), for logs.
    @discardableResult
    public func forget(_ partitions: some Sequence<KafkaTopicPartition>) -> [KafkaTopicPartition: Int64] {
        state.withLock { state in
            var result: [KafkaTopicPartition: Int64] = [:]
            for partition in partitions {
                state.fenced.remove(partition)
                if let committable = state.partitions.removeValue(forKey: partition)?.watermark.committable {
                    result[partition] = committable
                }
            }
            return result
        }
    }

    /// The partitions owned now (assigned, not yet forgotten).
    public var ownedPartitions: [KafkaTopicPartition] {
        state.withLock { state in Array(state.partitions.keys) }
    }

    /// Offsets registered and not yet passed by the watermark, per partition.
    public var pending: [KafkaTopicPartition: Int] {
        state.withLock { state in state.partitions.mapValues { $0.watermark.pendingCount } }
    }

    /// The committable offset of each partition that has one.
    public var committable: [KafkaTopicPartition: Int64] {
        state.withLock { state in state.partitions.compactMapValues { $0.watermark.committable } }
    }
}
