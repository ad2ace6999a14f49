/// Additive increase, multiplicative decrease of the requests in flight, as TCP does with its window: a 429
/// halves the limit (at most once per `cooldown`, so one burst of 429s is one decrease), each success adds
/// `1/limit` (about one more per round of requests), up to the worker's own cap. The ceiling (the worker's share of
/// the account, which moves as the fleet's work moves) caps what is in force but does not lower the window: only a
/// 429 does, so a share that shrinks and grows again without a 429 applies at once. A `Retry-After` pauses the
/// whole worker for that long. Pure: the caller supplies the time.
public struct AdaptiveLimit: Sendable {
    /// What may be in force now (the budget); 0 stops all requests.
    public private(set) var ceiling: Int
    /// The most the window grows to (the ceiling it was made with: the worker's own cap).
    public let upperBound: Int
    /// The current window, fractional between whole steps.
    public private(set) var limit: Double
    /// How much a 429 keeps of the limit. Default: 0.5.
    public var decreaseFactor = 0.5
    /// The least time between two decreases. Default: 1 s.
    public var cooldown: Duration = .seconds(1)
    private var lastDecrease: ContinuousClock.Instant?
    /// Until when a `Retry-After` pauses every request.
    public private(set) var pausedUntil: ContinuousClock.Instant?

    /// Starts at the ceiling.
    public init(ceiling: Int) {
        self.ceiling = max(0, ceiling)
        self.upperBound = max(1, ceiling)
        self.limit = Double(max(1, ceiling))
    }

    /// A new ceiling (the budget changed): it caps what is in force; the window stays.
    public mutating func setCeiling(_ ceiling: Int) {
        self.ceiling = max(0, ceiling)
    }

    /// A request succeeded.
    public mutating func recordSuccess() {
        guard ceiling > 0 else { return }
        // Up to what is in force (growing past it tells nothing about the account), or the window already above it.
        let cap = min(upperBound, max(ceiling, Int(limit)))
        limit = min(Double(cap), limit + 1 / max(limit, 1))
    }

    /// A request was answered 429.
    /// - Returns: Whether the limit was lowered (not within the cooldown of the last decrease).
    @discardableResult
    public mutating func recordRateLimited(at now: ContinuousClock.Instant, retryAfter: Duration?) -> Bool {
        if let retryAfter, retryAfter > .zero {
            let until = now + retryAfter
            pausedUntil = max(pausedUntil ?? until, until)
        }
        if let lastDecrease, now - lastDecrease < cooldown { return false }
        lastDecrease = now
        // Halved from what was in force.
        limit = max(1, min(limit, Double(max(1, ceiling))) * decreaseFactor)
        return true
    }

    /// The requests allowed in flight at `now`: 0 while paused or with no budget.
    public func effective(at now: ContinuousClock.Instant) -> Int {
        guard ceiling > 0 else { return 0 }
        if let pausedUntil, now < pausedUntil { return 0 }
        return min(ceiling, max(1, Int(limit)))
    }
}
