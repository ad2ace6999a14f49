/// The contiguous done-offsets of one partition: the offset that may be committed is the first one not done.
///
/// Offsets are registered in the order the consumer delivers them (increasing, possibly with gaps: compacted
/// topics and transaction markers leave holes), and completed in any order. Job 7 finishing before job 5 does not
/// move the watermark until 5 is done too, as in Confluent's Parallel Consumer.
///
/// Memory is one entry per registered, not yet committable offset; completing the oldest one pops every done
/// entry behind it.
public struct PartitionWatermark: Sendable {
    private var offsets: [Int64] = []
    private var done: [Bool] = []
    private var head = 0
    /// The next offset to read once everything registered so far is done: the highest registered + 1.
    private var next: Int64?
    /// The committable offset: every offset below it that was registered is done. `nil` before anything
    /// was completed.
    public private(set) var committable: Int64?

    /// An empty watermark.
    public init() {}

    /// Offsets registered and not yet passed by the watermark.
    public var pendingCount: Int { offsets.count - head }

    /// The highest registered offset, if any.
    public var lastRegistered: Int64? { next.map { $0 - 1 } }

    /// The offset a commit names now: the first registered offset not done, or, when all are, the next to read;
    /// `nil` before anything was registered.
    public var commitPoint: Int64? { head < offsets.count ? offsets[head] : next }

    /// The done offsets above the commit point, ascending (what an ``OffsetMap`` records).
    public var doneAboveCommitPoint: [Int64] {
        guard head < offsets.count else { return [] }
        return (head..<offsets.count).compactMap { done[$0] ? offsets[$0] : nil }
    }

    /// Registers an offset delivered by the consumer.
    /// - Returns: `false` (and ignores it) when the offset is not above the last registered one: a re-delivery.
    public mutating func register(_ offset: Int64) -> Bool {
        if let next, offset < next { return false }
        offsets.append(offset)
        done.append(false)
        next = offset + 1
        return true
    }

    /// Marks an offset done.
    /// - Returns: The new committable offset when it moved, else `nil`.
    public mutating func complete(_ offset: Int64) -> Int64? {
        guard let index = index(of: offset), !done[index] else { return nil }
        done[index] = true
        guard index == head else { return nil }
        while head < offsets.count && done[head] { head += 1 }
        let moved = head < offsets.count ? offsets[head] : (next ?? offset + 1)
        compact()
        committable = moved
        return moved
    }

    private func index(of offset: Int64) -> Int? {
        var low = head
        var high = offsets.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if offsets[middle] == offset { return middle }
            if offsets[middle] < offset { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }

    private mutating func compact() {
        if head == offsets.count {
            offsets.removeAll(keepingCapacity: true)
            done.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024 && head * 2 >= offsets.count {
            offsets.removeFirst(head)
            done.removeFirst(head)
            head = 0
        }
    }
}
