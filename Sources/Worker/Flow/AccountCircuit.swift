import DequeModule

/// Whether the GigaChat account can take requests at all: a circuit breaker for account-wide faults.
///
/// 402 (tokens used up), 401 after a renewed token (a revoked key), 403, and a sustained outage (most calls of the
/// last `window` failing with 5xx or connection errors) open it: no request may start (the worker stops taking
/// jobs, and jobs waiting to retry do not spend attempts). After `backoff` one probe may go out; its success closes
/// the circuit, its failure opens it again with the backoff doubled (up to `maximumBackoff`). Pure: the caller
/// supplies the time.
public struct AccountCircuit: Sendable {
    /// Why the circuit is open.
    public enum Reason: String, Sendable, Hashable {
        /// 402: the account's tokens are used up.
        case paymentRequired = "payment_required"
        /// 401 with a fresh token, or the key rejected by OAuth.
        case unauthorized
        /// 403.
        case forbidden
        /// Most calls failing with 5xx or connection errors.
        case outage
    }

    /// The circuit's state.
    public enum State: Sendable, Hashable {
        /// Requests flow.
        case closed
        /// No request may start until `probeAt`.
        case open(Reason, probeAt: ContinuousClock.Instant)
        /// One request (the probe) may be in flight.
        case probing(Reason)
    }

    public private(set) var state: State = .closed
    /// The first wait before a probe. Default: 1 s.
    public var initialBackoff: Duration = .seconds(1)
    /// The longest wait between probes, so that the worker resumes within seconds of the account being fixed; a
    /// probe every few seconds costs the account nothing. Default: 5 s.
    public var maximumBackoff: Duration = .seconds(5)
    /// The span over which an outage is judged. Default: 10 s.
    public var window: Duration = .seconds(10)
    /// The fewest calls in the window that can show an outage. Default: 10.
    public var minimumCalls = 10
    /// The share of failed calls in the window that is an outage. Default: 0.8.
    public var failureRatio = 0.8
    private var backoff: Duration?
    private var outcomes: Deque<(at: ContinuousClock.Instant, failed: Bool)> = []

    public init() {}

    /// Requests allowed in flight by the circuit: `nil` (no limit) when closed, 1 while probing, 0 when open.
    public var allowedInFlight: Int? {
        switch state {
        case .closed: nil
        case .probing: 1
        case .open: 0
        }
    }

    /// The reason the circuit is not closed.
    public var reason: Reason? {
        switch state {
        case .closed: nil
        case .open(let reason, _), .probing(let reason): reason
        }
    }

    /// An account fault: opens the circuit (again, with a longer wait, if a probe failed).
    /// - Returns: Whether the state changed from closed or probing to open.
    @discardableResult
    public mutating func recordAccountFault(_ reason: Reason, at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .open:
            return false
        case .closed, .probing:
            let wait = backoff.map { min(maximumBackoff, $0 * 2) } ?? initialBackoff
            backoff = wait
            state = .open(reason, probeAt: now + wait)
            return true
        }
    }

    /// A call failed with 5xx or a connection error: opens the circuit when most calls of the window did.
    /// - Returns: Whether the state changed to open.
    @discardableResult
    public mutating func recordServerFailure(at now: ContinuousClock.Instant) -> Bool {
        remember(failed: true, at: now)
        if case .probing = state { return recordAccountFault(.outage, at: now) }
        guard case .closed = state, outcomes.count >= minimumCalls else { return false }
        let failed = outcomes.reduce(0) { $0 + ($1.failed ? 1 : 0) }
        guard Double(failed) >= failureRatio * Double(outcomes.count) else { return false }
        return recordAccountFault(.outage, at: now)
    }

    /// A call got an answer (any answer that is not an account fault or a server failure).
    ///
    /// Only an answer while probing closes the circuit. While it is open, answers come from calls sent before it
    /// opened (the balance ran out or the outage began after they were sent): closing on them made the circuit
    /// flap, open and closed several times a second, letting new calls out into the fault each time.
    /// - Returns: Whether the circuit closed.
    @discardableResult
    public mutating func recordSuccess(at now: ContinuousClock.Instant) -> Bool {
        remember(failed: false, at: now)
        guard case .probing = state else { return false }
        state = .closed
        backoff = nil
        outcomes.removeAll()
        return true
    }

    /// Moves an open circuit whose wait is over to probing.
    /// - Returns: Whether the state changed.
    @discardableResult
    public mutating func tick(at now: ContinuousClock.Instant) -> Bool {
        guard case .open(let reason, let probeAt) = state, now >= probeAt else { return false }
        state = .probing(reason)
        return true
    }

    private mutating func remember(failed: Bool, at now: ContinuousClock.Instant) {
        outcomes.append((now, failed))
        while let first = outcomes.first, now - first.at > window { outcomes.removeFirst() }
        if outcomes.count > 1000 { outcomes.removeFirst(outcomes.count - 1000) }
    }
}
