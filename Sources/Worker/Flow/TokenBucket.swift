/// A rate limit as a token bucket that may go into debt: a caller may go ahead whenever the balance is not
/// negative, taking its whole cost (also more than is there); the next caller waits until the debt is repaid at the
/// refill rate. That paces requests evenly, lets a cost be corrected afterwards (tokens per minute: the estimate
/// before the call, the real `usage` after, which later callers then wait for), and needs no timer.
/// Pure: the caller supplies the time.
public struct TokenBucket: Sendable {
    /// Refill per second.
    public private(set) var rate: Double
    /// The most that can build up while idle.
    public private(set) var capacity: Double
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    /// A full bucket.
    public init(perMinute: Double, burst: Double? = nil, now: ContinuousClock.Instant) {
        rate = max(0, perMinute) / 60
        capacity = burst ?? max(1, rate)
        tokens = capacity
        updated = now
    }

    /// Changes the rate (the worker's share of the fleet changed), keeping the balance.
    public mutating func setRate(perMinute: Double, now: ContinuousClock.Instant) {
        refill(now)
        rate = max(0, perMinute) / 60
        capacity = max(1, rate)
        tokens = min(tokens, capacity)
    }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        let elapsed = (now - updated).secondsDouble
        if elapsed > 0 {
            tokens = min(capacity, tokens + elapsed * rate)
            updated = now
        }
    }

    /// How long a caller must wait before it may take: zero when the balance is not in debt, `nil` when the rate
    /// is 0 (this worker has no share now; ask again later).
    public mutating func wait(now: ContinuousClock.Instant) -> Duration? {
        refill(now)
        guard rate > 0 else { return nil }
        guard tokens < 0 else { return .zero }
        return .milliseconds(Int64((-tokens / rate * 1000).rounded(.up)))
    }

    /// Takes `cost`, going into debt if it is more than the balance; callers check ``wait(now:)`` first. A cost
    /// larger than the burst goes ahead once the debt before it is repaid, so nothing starves.
    public mutating func take(_ cost: Double, now: ContinuousClock.Instant) {
        refill(now)
        tokens -= cost
    }

    /// Corrects an earlier cost (positive: it cost more; negative: less).
    public mutating func adjust(by delta: Double, now: ContinuousClock.Instant) {
        refill(now)
        tokens = min(capacity, tokens - delta)
    }
}
