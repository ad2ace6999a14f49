import Foundation
import Synchronization

/// Holds the access token for one ``GigaChatTokenSource`` and refreshes it for every request that needs it.
///
/// - Refresh is single-flight: however many requests wait, one call goes to the token endpoint and all of
///   them get its result (the endpoint allows 10 requests/s; unguarded refreshes are a known cause of 429s).
/// - A token is refreshed ahead of expiry (``expiryBuffer``, default 60 s), so requests do not start with a
///   token that dies on the way.
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
    /// How long before expiry a token is refreshed.
    public nonisolated let expiryBuffer: Duration

    private var current: GigaChatAccessToken?
    private var refresh: Task<GigaChatAccessToken, any Error>?
    /// Number of refreshes started (for metrics and tests).
    public private(set) var refreshCount = 0

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
        self.source = source
        self.current = initialToken
        self.expiryBuffer = expiryBuffer
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

    /// A token usable now: the current one if it does not expire within ``expiryBuffer``, else a fresh one.
    /// - Parameter fetch: Performs the token call when one is needed (at most one runs at a time).
    /// - Throws: The fetch's error (every waiter of that fetch gets it), or
    ///   ``GigaChatError/Code/unauthorized`` when the token was rejected and there is no source to renew it.
    public func token(fetch: @escaping Fetch) async throws -> GigaChatAccessToken {
        if let current, current.isUsable(buffer: self.expiryBuffer) { return current }
        if let refresh { return try await refresh.value }
        guard let source else {
            throw GigaChatError(
                code: .unauthorized,
                message: "the access token was rejected or has expired and no credentials are configured to renew it"
            )
        }
        // An unstructured task, so that a waiter's cancellation does not fail the others waiting on it.
        let task = Task { try await fetch(source) }
        self.refresh = task
        self.refreshCount += 1
        do {
            let token = try await task.value
            self.current = token
            self.refresh = nil
            return token
        } catch {
            self.refresh = nil
            throw error
        }
    }

    /// Drops `token` after the API rejected it with 401, unless a newer token has replaced it already.
    public func invalidate(_ token: GigaChatAccessToken) {
        if self.current?.value == token.value { self.current = nil }
    }

    /// Drops the current token whatever it is (the next request fetches a new one).
    public func reset() {
        self.current = nil
    }
}
