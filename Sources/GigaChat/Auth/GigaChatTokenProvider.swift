import Foundation
import Synchronization

/// Holds the access token for one ``GigaChatTokenSource`` and refreshes it for every request that needs it.
///
/// - Refresh is single-flight: however many requests wait, one call goes to the token endpoint and all of
///   them get its result (the endpoint allows 10 requests/s; unguarded refreshes are a known cause of 429s).
/// - A token is refreshed ahead of expiry, in the background: from ``expiryBuffer`` before it expires (at most
///   half its lifetime), requests go on using it while one refresh runs, so a slow or stalled token endpoint
///   holds nobody up while the current token is valid. Only when there is no valid token do requests wait.
/// - Waiting for a token is bounded (the `timeout` of ``token(timeout:fetch:)``) and ends at once when the
///   waiting task is cancelled; the refresh itself goes on for the others.
/// - A refresh that has run longer than a caller without a valid token waits (its `timeout`) is taken as lost — a
///   token endpoint that took the request and never answered — and another starts beside it; the first answer
///   serves every waiter. (The one refresh once held every such caller until the connection's idle timeout.)
/// - ``invalidate(_:)`` after a 401 drops the token only if it is still the one that failed, so a burst of
///   401s from one expired token causes one refresh, not one per request.
///
/// Use ``shared(source:expiryBuffer:)`` to get the process-wide provider of a source, so that every client
/// with the same credentials and scope shares one token.
public actor GigaChatTokenProvider {
    /// Fetches a new token from a source (the client does the HTTP call with its own connection pool).
    public typealias Fetch = @Sendable (GigaChatTokenSource) async throws -> GigaChatAccessToken

    /// Where tokens come from; `nil` for a pre-issued token alone (it cannot be renewed).
    public nonisolated let source: GigaChatTokenSource?
    /// How long before expiry a token starts being refreshed (in the background while it is valid).
    public nonisolated let expiryBuffer: Duration

    private var current: GigaChatAccessToken? {
        didSet { self.publish() }
    }
    /// What callers read without a turn on the actor: whether there is a token and when it expires (readiness
    /// probes), and the token itself with the time until which ``token(timeout:fetch:)`` would hand it out as it is
    /// (``usableToken()``).
    private nonisolated let published: Mutex<Published>
    /// When ``current`` was obtained (for its lifetime).
    private var obtainedAt: Date? {
        didSet { self.publish() }
    }
    private var refreshing = false
    /// The running refresh: when it started, and its number (a refresh outrun by a newer one still hands over a
    /// token it gets, but only the newest ends the refresh, or fails the waiters).
    private var refreshStartedAt: Date?
    private var currentRefresh = 0
    /// When the last background refresh failed; the next one waits a little.
    private var lastFailure: Date?
    /// Callers waiting for a refresh. Outside the actor's state so that a cancellation or a timeout resumes its
    /// waiter at once, without waiting for a turn on the actor.
    private nonisolated let waiters = Waiters()
    private var nextWaiter: UInt64 = 0
    /// Number of refreshes started (for metrics and tests).
    public private(set) var refreshCount = 0

    /// A request does not start with a token expiring sooner than this (it could die on the way); a quarter of
    /// the lifetime for tokens that live less than 20 s.
    static let minimumRemaining: TimeInterval = 5
    /// After a failed background refresh, the next one waits this long (the current token is still valid).
    static let refreshRetryDelay: TimeInterval = 1

    /// The wall clock (tests move it).
    private let now: @Sendable () -> Date

    /// Creates a provider.
    /// - Parameters:
    ///   - source: Where new tokens come from.
    ///   - initialToken: A pre-issued token to use until it is rejected.
    ///   - expiryBuffer: Refresh this long before expiry. Default: 60 s.
    public init(
        source: GigaChatTokenSource?,
        initialToken: GigaChatAccessToken? = nil,
        expiryBuffer: Duration = .seconds(60)
    ) {
        self.init(source: source, initialToken: initialToken, expiryBuffer: expiryBuffer, now: { Date() })
    }

    init(
        source: GigaChatTokenSource?,
        initialToken: GigaChatAccessToken? = nil,
        expiryBuffer: Duration = .seconds(60),
        now: @escaping @Sendable () -> Date
    ) {
        let obtainedAt = initialToken == nil ? nil : now()
        self.source = source
        self.current = initialToken
        self.obtainedAt = obtainedAt
        self.expiryBuffer = expiryBuffer
        self.now = now
        self.published = Mutex(
            Self.published(
                initialToken,
                obtainedAt: obtainedAt,
                canRefresh: source != nil,
                expiryBuffer: expiryBuffer
            )
        )
    }

    private static let registry = Mutex<[GigaChatTokenSource: GigaChatTokenProvider]>([:])

    /// The process-wide provider for `source` (created on first use; later calls return the same instance,
    /// keeping the first `expiryBuffer`). Providers live as long as the process: one per credential set.
    public static func shared(source: GigaChatTokenSource, expiryBuffer: Duration = .seconds(60))
        -> GigaChatTokenProvider
    {
        registry.withLock { providers in
            if let provider = providers[source] { return provider }
            let provider = GigaChatTokenProvider(source: source, expiryBuffer: expiryBuffer)
            providers[source] = provider
            return provider
        }
    }

    /// Whether a new token can be obtained (false for a pre-issued token without credentials).
    public nonisolated var canRefresh: Bool { self.source != nil }

    /// Whether a token is held that has not expired (one without a known expiry counts as valid): for readiness
    /// probes, without waiting for the actor.
    public nonisolated var hasValidToken: Bool {
        guard let token = published.withLock({ $0.token }) else { return false }
        return token.expiresAt.map { $0 > now() } ?? true
    }

    /// The current token if ``token(timeout:fetch:)`` would return it as it is now — valid for more than
    /// ``minimumRemaining`` and not yet in its refresh window — read without a turn on the actor; otherwise `nil`
    /// (then ask the actor, which may refresh it).
    ///
    /// Why (issue 17): every GigaChat call asked the actor for the token, two executor switches a call, and with
    /// many calls at once a queue on the actor, for a value that changes once in half an hour.
    public nonisolated func usableToken() -> GigaChatAccessToken? {
        let (token, until) = published.withLock { ($0.token, $0.usableUntil) }
        guard let token, now() < until else { return nil }
        return token
    }

    struct Published {
        var token: GigaChatAccessToken?
        /// Until when ``usableToken()`` may hand `token` out: the earlier of its refresh window's start (when it
        /// can be refreshed) and ``minimumRemaining`` before it expires.
        var usableUntil: Date
    }

    private func publish() {
        let published = Self.published(
            self.current,
            obtainedAt: self.obtainedAt,
            canRefresh: self.source != nil,
            expiryBuffer: self.expiryBuffer
        )
        self.published.withLock { $0 = published }
    }

    /// ``token(timeout:fetch:)``'s rules (``minimumRemaining(expiresAt:obtainedAt:)``,
    /// ``refreshWindow(expiresAt:obtainedAt:expiryBuffer:)``) as a time.
    private static func published(
        _ token: GigaChatAccessToken?,
        obtainedAt: Date?,
        canRefresh: Bool,
        expiryBuffer: Duration
    ) -> Published {
        guard let token else { return Published(token: nil, usableUntil: .distantPast) }
        guard let expiresAt = token.expiresAt else { return Published(token: token, usableUntil: .distantFuture) }
        var until = expiresAt.addingTimeInterval(-Self.minimumRemaining(expiresAt: expiresAt, obtainedAt: obtainedAt))
        if canRefresh {
            let window = Self.refreshWindow(expiresAt: expiresAt, obtainedAt: obtainedAt, expiryBuffer: expiryBuffer)
            until = min(until, expiresAt.addingTimeInterval(-window))
        }
        return Published(token: token, usableUntil: until)
    }

    /// How long a token must still be valid to be handed out: ``minimumRemaining``, or a quarter of its lifetime
    /// when that is shorter.
    private static func minimumRemaining(expiresAt: Date, obtainedAt: Date?) -> TimeInterval {
        guard let obtainedAt else { return Self.minimumRemaining }
        return min(Self.minimumRemaining, expiresAt.timeIntervalSince(obtainedAt) / 4)
    }

    /// How long before expiry a token is refreshed in the background: ``expiryBuffer``, or half its lifetime when
    /// that is shorter (so short-lived tokens are not refreshed on every call).
    private static func refreshWindow(expiresAt: Date, obtainedAt: Date?, expiryBuffer: Duration) -> TimeInterval {
        guard let obtainedAt else { return expiryBuffer.seconds }
        return min(expiryBuffer.seconds, expiresAt.timeIntervalSince(obtainedAt) / 2)
    }

    /// A token usable now.
    ///
    /// The current one while it is valid for ``minimumRemaining`` more seconds (starting a background refresh once
    /// it is within the refresh window); otherwise the result of the refresh, waited for at most `timeout`.
    /// - Parameters:
    ///   - timeout: The longest wait for a refresh; `nil` waits as long as the refresh takes.
    ///   - fetch: Performs the token call when one is needed (at most one runs at a time).
    /// - Throws: The fetch's error (every waiter of that fetch gets it); ``GigaChatError/Code/timeout`` after
    ///   `timeout`; ``GigaChatError/Code/cancelled`` when the waiting task is cancelled;
    ///   ``GigaChatError/Code/unauthorized`` when the token was rejected and there is no source to renew it.
    public func token(timeout: Duration? = nil, fetch: @escaping Fetch) async throws -> GigaChatAccessToken {
        let now = self.now()
        if let current, self.remaining(current, now: now) > self.minimumRemaining(current) {
            if self.shouldRefresh(current, now: now) { self.startRefresh(fetch) }
            return current
        }
        guard self.source != nil else {
            throw GigaChatError(
                code: .unauthorized,
                message: "the access token was rejected or has expired and no credentials are configured to renew it"
            )
        }
        self.startRefresh(fetch, outrunningAfter: timeout)
        return try await self.waitForRefresh(timeout: timeout)
    }

    /// Backward-compatible form of ``token(timeout:fetch:)`` without a bound.
    public func token(fetch: @escaping Fetch) async throws -> GigaChatAccessToken {
        try await self.token(timeout: nil, fetch: fetch)
    }

    /// Drops `token` after the API rejected it with 401, unless a newer token has replaced it already.
    public func invalidate(_ token: GigaChatAccessToken) {
        if self.current?.value == token.value {
            self.current = nil
            self.obtainedAt = nil
        }
    }

    /// Drops the current token whatever it is (the next request fetches a new one).
    public func reset() {
        self.current = nil
        self.obtainedAt = nil
    }

    // MARK: - Refresh

    private func minimumRemaining(_ token: GigaChatAccessToken) -> TimeInterval {
        guard let expiresAt = token.expiresAt else { return Self.minimumRemaining }
        return Self.minimumRemaining(expiresAt: expiresAt, obtainedAt: self.obtainedAt)
    }

    private func remaining(_ token: GigaChatAccessToken, now: Date) -> TimeInterval {
        guard let expiresAt = token.expiresAt else { return .infinity }
        return expiresAt.timeIntervalSince(now)
    }

    /// Whether a token still valid should be replaced in the background: within its refresh window
    /// (``refreshWindow(expiresAt:obtainedAt:expiryBuffer:)``) of expiry.
    private func shouldRefresh(_ token: GigaChatAccessToken, now: Date) -> Bool {
        guard self.source != nil, !self.refreshing, let expiresAt = token.expiresAt else { return false }
        if let lastFailure, now.timeIntervalSince(lastFailure) < Self.refreshRetryDelay { return false }
        let window = Self.refreshWindow(
            expiresAt: expiresAt,
            obtainedAt: self.obtainedAt,
            expiryBuffer: self.expiryBuffer
        )
        return expiresAt.timeIntervalSince(now) <= window
    }

    /// Starts a refresh unless one runs; with `outrunningAfter` (a caller without a valid token waits that long),
    /// also when the running one started longer ago than that.
    private func startRefresh(_ fetch: @escaping Fetch, outrunningAfter limit: Duration? = nil) {
        guard let source = self.source else { return }
        if self.refreshing {
            guard let limit, let started = self.refreshStartedAt,
                self.now().timeIntervalSince(started) >= limit.seconds
            else { return }
        }
        self.refreshing = true
        self.refreshStartedAt = self.now()
        self.refreshCount += 1
        self.currentRefresh += 1
        let number = self.currentRefresh
        // An unstructured task: no waiter's cancellation may cancel the call the others wait for.
        Task {
            let result: Result<GigaChatAccessToken, any Error>
            do {
                result = .success(try await fetch(source))
            } catch {
                result = .failure(error)
            }
            self.finishRefresh(number, result)
        }
    }

    private func finishRefresh(_ number: Int, _ result: Result<GigaChatAccessToken, any Error>) {
        let newest = number == self.currentRefresh
        if newest { self.refreshing = false }
        switch result {
        case .success(let token):
            self.current = token
            self.obtainedAt = self.now()
            self.lastFailure = nil
        case .failure:
            // An outrun refresh's failure is not news: the newer one may still answer the waiters.
            guard newest else { return }
            self.lastFailure = self.now()
        }
        for waiter in self.waiters.takeAll() { waiter.resume(with: result) }
    }

    private func waitForRefresh(timeout: Duration?) async throws -> GigaChatAccessToken {
        self.nextWaiter += 1
        let id = self.nextWaiter
        let waiters = self.waiters
        // Stopped once the wait ends: a cold start's thousand waiters would otherwise leave a thousand sleeping tasks.
        let timer = timeout.map { timeout in
            Task {
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                waiters.end(
                    id,
                    GigaChatError(
                        code: .timeout,
                        message: "no access token within \(timeout) (the token endpoint is slow)"
                    )
                )
            }
        }
        defer { timer?.cancel() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                waiters.add(id, continuation)
            }
        } onCancel: {
            waiters.end(id, GigaChatError(code: .cancelled, message: "cancelled while waiting for a token"))
        }
    }

    /// The callers waiting for a refresh, behind a lock of their own.
    final class Waiters: Sendable {
        private struct State {
            var waiting: [UInt64: CheckedContinuation<GigaChatAccessToken, any Error>] = [:]
            /// Ended before they were added (a cancellation can come first).
            var ended: [UInt64: GigaChatError] = [:]
        }

        private let state = Mutex(State())

        func add(_ id: UInt64, _ continuation: CheckedContinuation<GigaChatAccessToken, any Error>) {
            let early = state.withLock { state -> GigaChatError? in
                if let error = state.ended.removeValue(forKey: id) { return error }
                if Task.isCancelled {
                    return GigaChatError(code: .cancelled, message: "cancelled while waiting for a token")
                }
                state.waiting[id] = continuation
                return nil
            }
            if let early { continuation.resume(throwing: early) }
        }

        func end(_ id: UInt64, _ error: GigaChatError) {
            let waiter = state.withLock { state -> CheckedContinuation<GigaChatAccessToken, any Error>? in
                if let waiter = state.waiting.removeValue(forKey: id) { return waiter }
                // Not added yet (cancelled, or timed out with a wait of about zero) or already answered: remembered
                // until the next refresh ends.
                state.ended[id] = error
                return nil
            }
            waiter?.resume(throwing: error)
        }

        func takeAll() -> [CheckedContinuation<GigaChatAccessToken, any Error>] {
            state.withLock { state in
                defer {
                    state.waiting = [:]
                    state.ended = [:]
                }
                return Array(state.waiting.values)
            }
        }
    }
}
