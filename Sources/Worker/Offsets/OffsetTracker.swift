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
public final class OffsetTracker: Sendable {
    /// A registered offset: what a job carries to complete it.
    public struct Ticket: Sendable, Hashable {
        /// The partition.
        public var partition: KafkaTopicPartition
        /// The offset.
        public var offset: Int64
        /// The ownership epoch it was registered in.
        var epoch: UInt64
    }

    private struct Owned {
        var epoch: UInt64
        var watermark = PartitionWatermark()
    }

    private struct State {
        var partitions: [KafkaTopicPartition: Owned] = [:]
        /// Partitions being revoked: nothing new is registered for them until they are forgotten.
        var fenced: Set<KafkaTopicPartition> = []
        var nextEpoch: UInt64 = 1
    }

    private let state = Mutex(State())
    private let store: @Sendable ([KafkaTopicPartition: Int64]) -> Void

    /// Creates a tracker.
    /// - Parameter store: Stores a moved watermark for commit (the worker's consumer's `storeOffsets`); called
    ///   with the tracker's lock held, so it must not call back into the tracker.
    public init(store: @escaping @Sendable ([KafkaTopicPartition: Int64]) -> Void) {
        self.store = store
    }

    /// Starts owning partitions (they were assigned): each gets a new epoch; one owned already keeps its own.
    public func assign(_ partitions: some Sequence<KafkaTopicPartition>) {
        state.withLock { state in
            for partition in partitions where state.partitions[partition] == nil {
                state.fenced.remove(partition)
                state.partitions[partition] = Owned(epoch: state.nextEpoch)
                state.nextEpoch += 1
            }
        }
    }

    /// Registers a consumed offset.
    /// - Returns: Its ticket, or `nil` when the partition is not owned (not assigned, or being revoked) or the
    ///   offset is a re-delivery of one already registered in this epoch.
    public func register(_ partition: KafkaTopicPartition, offset: Int64) -> Ticket? {
        state.withLock { state in
            guard !state.fenced.contains(partition), state.partitions[partition] != nil else { return nil }
            guard state.partitions[partition]!.watermark.register(offset) else { return nil }
            return Ticket(partition: partition, offset: offset, epoch: state.partitions[partition]!.epoch)
        }
    }

    /// Marks a ticket's offset done (its output was acknowledged); stores the watermark when it moves.
    public func complete(_ ticket: Ticket) {
        state.withLock { state in
            guard state.partitions[ticket.partition]?.epoch == ticket.epoch else { return }
            // In place (a copy of the entry would copy its arrays).
            let moved = state.partitions[ticket.partition]!.watermark.complete(ticket.offset)
            if let moved { store([ticket.partition: moved]) }
        }
    }

    /// Starts revoking partitions: offsets of them are no longer registered (completions still count).
    /// - Returns: The ownership epoch of each partition that has one.
    public func fence(_ partitions: Set<KafkaTopicPartition>) -> [KafkaTopicPartition: UInt64] {
        state.withLock { state in
            state.fenced.formUnion(partitions)
            var epochs: [KafkaTopicPartition: UInt64] = [:]
            for partition in partitions { epochs[partition] = state.partitions[partition]?.epoch }
            return epochs
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

    /// Offsets registered and not yet passed by the watermark, per partition.
    public var pending: [KafkaTopicPartition: Int] {
        state.withLock { state in state.partitions.mapValues { $0.watermark.pendingCount } }
    }

    /// The committable offset of each partition that has one.
    public var committable: [KafkaTopicPartition: Int64] {
        state.withLock { state in state.partitions.compactMapValues { $0.watermark.committable } }
    }
}
