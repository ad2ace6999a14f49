/// A rate limit as a token bucket that may go into debt: taking more than is there is allowed, and the caller
/// waits until the debt is repaid at the refill rate. That paces requests evenly, lets a cost be corrected
/// afterwards (tokens per minute: the estimate before the call, the real `usage` after), and needs no timer.
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

    /// Takes `cost` (going into debt if needed).
    /// - Returns: How long the caller must wait before it may go ahead; `nil` when the rate is 0 (this worker has
    ///   no share now): nothing was taken, ask again later.
    public mutating func take(_ cost: Double, now: ContinuousClock.Instant) -> Duration? {
        refill(now)
        guard rate > 0 else { return nil }
        tokens -= cost
        guard tokens < 0 else { return .zero }
        return .milliseconds(Int64((-tokens / rate * 1000).rounded(.up)))
    }

    /// Corrects an earlier cost (positive: it cost more; negative: less).
    public mutating func adjust(by delta: Double, now: ContinuousClock.Instant) {
        refill(now)
        tokens = min(capacity, tokens - delta)
    }
}
