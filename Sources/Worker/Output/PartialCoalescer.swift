/// Decides when streamed deltas become a partial record: a token-by-token stream must not become a record per
/// token, yet a reader should see text soon after it was generated.
///
/// A flush happens when the pending text reaches `maxBytes`, or when a delta arrives `interval` or more after the
/// last flush (so the first delta of a slow stream goes out at once), or when a timer finds pending text that is
/// due (``due(at:)``), and at the end (``finish(at:)``, the final partial, possibly empty). Pure: the caller
/// supplies the time and publishes what comes out.
public struct PartialCoalescer: Sendable {
    /// A partial to publish.
    public struct Flush: Sendable, Hashable {
        /// Counts from 0 within an attempt.
        public var seq: Int
        /// The text since the previous partial.
        public var delta: String
        /// Whether this is the attempt's last partial.
        public var isFinal: Bool
        /// When the newest delta in it arrived (for the chunk-to-acknowledgement delay).
        public var newestArrival: ContinuousClock.Instant?
    }

    /// The longest a delta waits for company.
    public let interval: Duration
    /// The most text (UTF-8 bytes) a partial carries before it is flushed.
    public let maxBytes: Int

    private var pending = ""
    private var pendingBytes = 0
    private var newestArrival: ContinuousClock.Instant?
    private var lastFlush: ContinuousClock.Instant
    private var nextSeq = 0

    /// Creates a coalescer for one attempt.
    /// - Parameters:
    ///   - interval: The longest a delta waits (`partials.interval`).
    ///   - maxBytes: The size that flushes at once (`partials.max_bytes`).
    ///   - start: When the attempt started (a delta arriving `interval` after it is flushed at once).
    public init(interval: Duration, maxBytes: Int, start: ContinuousClock.Instant) {
        self.interval = interval
        self.maxBytes = max(1, maxBytes)
        self.lastFlush = start
    }

    /// The number of partials flushed so far.
    public var flushedCount: Int { nextSeq }

    /// Adds a delta; returns a partial to publish when one is due now.
    public mutating func append(_ delta: String, at now: ContinuousClock.Instant) -> Flush? {
        guard !delta.isEmpty else { return nil }
        pending += delta
        pendingBytes += delta.utf8.count
        newestArrival = now
        if pendingBytes >= maxBytes || now - lastFlush >= interval {
            return flush(at: now, isFinal: false)
        }
        return nil
    }

    /// When pending text becomes due, if there is any.
    public var nextDue: ContinuousClock.Instant? {
        pendingBytes > 0 ? lastFlush + interval : nil
    }

    /// Returns a partial when pending text has waited `interval` since the last flush.
    public mutating func due(at now: ContinuousClock.Instant) -> Flush? {
        guard pendingBytes > 0, now - lastFlush >= interval else { return nil }
        return flush(at: now, isFinal: false)
    }

    /// The final partial: whatever is pending (possibly nothing), marked final.
    public mutating func finish(at now: ContinuousClock.Instant) -> Flush {
        flush(at: now, isFinal: true)
    }

    private mutating func flush(at now: ContinuousClock.Instant, isFinal: Bool) -> Flush {
        let result = Flush(seq: nextSeq, delta: pending, isFinal: isFinal, newestArrival: newestArrival)
        nextSeq += 1
        pending = ""
        pendingBytes = 0
        newestArrival = nil
        lastFlush = now
        return result
    }
}
