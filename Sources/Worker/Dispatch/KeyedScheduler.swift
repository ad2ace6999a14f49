import DequeModule

/// The order in which admitted jobs may start: partitions in turn, FIFO within one, and in per-key mode one job per
/// key at a time.
///
/// Ready jobs are taken from their partitions round-robin, so that every partition's backlog drains at the same
/// pace: the fleet budget gives each partition a share of the account, and a partition handed to another worker
/// at a rebalance then takes no larger backlog with it than the others keep (and every partition's committed
/// offset moves). Unordered: every job is ready at once, in arrival order within its partition. Per-key: a job is
/// ready when it is the oldest of its key not yet finished; the next one of that key becomes ready when
/// ``finish(_:)`` is called for its key. Keys of
/// different partitions (and of different ownership epochs of one partition) never meet, so a revocation can
/// drop a partition's keys wholesale. Pure; the dispatcher holds it behind its lock.
public struct KeyedScheduler<Element>: Sendable where Element: Sendable {
    /// A job's place in the order.
    public struct Key: Sendable, Hashable {
        /// The ownership of the partition it came from.
        public var partition: PartitionOwnership
        /// The record key's bytes (`nil`: a null key, which orders with nothing).
        public var key: [UInt8]?
        /// Distinguishes null-key jobs (each is its own key).
        public var unique: Int64

        /// Creates a key.
        public init(partition: PartitionOwnership, key: [UInt8]?, unique: Int64) {
            self.partition = partition
            self.key = key
            self.unique = unique
        }

        var orderingKey: OrderingKey { OrderingKey(partition: partition, key: key, unique: key == nil ? unique : 0) }
    }

    struct OrderingKey: Hashable {
        var partition: PartitionOwnership
        var key: [UInt8]?
        var unique: Int64
    }

    /// Whether jobs with the same key run one at a time.
    public let perKey: Bool
    /// Ready jobs by partition, and the partitions with ready jobs in their turn order.
    private var ready: [PartitionOwnership: Deque<(Key, Element)>] = [:]
    private var turns: Deque<PartitionOwnership> = []
    private var waiting: [OrderingKey: Deque<(Key, Element)>] = [:]
    private var active: Set<OrderingKey> = []
    /// Jobs held (ready or waiting), not started.
    public private(set) var count = 0

    /// Creates a scheduler.
    /// - Parameter perKey: `true` for per-key order, `false` for unordered.
    public init(perKey: Bool) {
        self.perKey = perKey
    }

    /// Adds a job in arrival (offset) order.
    public mutating func enqueue(_ element: Element, key: Key) {
        count += 1
        guard perKey else {
            makeReady((key, element))
            return
        }
        let ordering = key.orderingKey
        if active.contains(ordering) {
            waiting[ordering, default: []].append((key, element))
        } else {
            active.insert(ordering)
            makeReady((key, element))
        }
    }

    private mutating func makeReady(_ entry: (Key, Element)) {
        let partition = entry.0.partition
        if ready[partition] == nil { turns.append(partition) }
        ready[partition, default: []].append(entry)
    }

    /// Whether a job can start now.
    public var hasReady: Bool { !turns.isEmpty }

    /// Takes the next job that may start: the oldest ready one of the partition whose turn it is.
    public mutating func popReady() -> Element? {
        // Mutated in place through the dictionary (no copy of the queue).
        guard let partition = turns.popFirst(), let (_, element) = ready[partition]?.popFirst() else { return nil }
        if ready[partition]?.isEmpty ?? true {
            ready[partition] = nil
        } else {
            turns.append(partition)
        }
        count -= 1
        return element
    }

    /// Says the started job of `key` is finished (its completion acknowledged): the next of that key is ready.
    /// Does nothing in unordered mode or for a key that was dropped.
    public mutating func finish(_ key: Key) {
        guard perKey else { return }
        let ordering = key.orderingKey
        guard active.contains(ordering) else { return }
        if var queue = waiting[ordering], let next = queue.popFirst() {
            waiting[ordering] = queue.isEmpty ? nil : queue
            makeReady(next)
        } else {
            active.remove(ordering)
        }
    }

    /// Takes the ready jobs that `isExpired` picks, as if they started: in per-key mode their keys stay busy until
    /// ``finish(_:)``, so a key's jobs still end in offset order (a waiting job is taken once it is ready).
    public mutating func takeReady(where isExpired: (Element) -> Bool) -> [Element] {
        var taken: [Element] = []
        for partition in Array(ready.keys) {
            guard var queue = ready[partition], queue.contains(where: { isExpired($0.1) }) else { continue }
            var kept: Deque<(Key, Element)> = []
            for entry in queue {
                if isExpired(entry.1) { taken.append(entry.1) } else { kept.append(entry) }
            }
            queue = kept
            ready[partition] = queue.isEmpty ? nil : queue
            if queue.isEmpty { turns.removeAll { $0 == partition } }
        }
        count -= taken.count
        return taken
    }

    /// Removes every held job of the given partitions (their keys are forgotten too).
    /// - Returns: The removed jobs.
    public mutating func removeAll(ofPartitions partitions: Set<PartitionOwnership>) -> [Element] {
        var removed: [Element] = []
        for partition in partitions {
            if let queue = ready.removeValue(forKey: partition) { removed.append(contentsOf: queue.map(\.1)) }
        }
        turns.removeAll { partitions.contains($0) }
        for (ordering, queue) in waiting where partitions.contains(ordering.partition) {
            removed.append(contentsOf: queue.map(\.1))
            waiting[ordering] = nil
        }
        active = active.filter { !partitions.contains($0.partition) }
        count -= removed.count
        return removed
    }

    /// Removes every held job.
    public mutating func removeAll() -> [Element] {
        var removed = ready.values.flatMap { $0.map(\.1) }
        for queue in waiting.values { removed.append(contentsOf: queue.map(\.1)) }
        ready.removeAll()
        turns.removeAll()
        waiting.removeAll()
        active.removeAll()
        count = 0
        return removed
    }
}
