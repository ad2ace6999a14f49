import Foundation
import Synchronization
import Testing

@testable import GigaChat

@Suite("GigaChatTokenProvider")
struct GigaChatTokenProviderTests {
    final class Calls: Sendable {
        let count = Atomic<Int>(0)
    }

    static let source = GigaChatTokenSource.oauth(url: "http://127.0.0.1:1/oauth", credentials: "a2V5", scope: "S")

    @Test func concurrentCallersShareOneFetch() async throws {
        let provider = GigaChatTokenProvider(source: Self.source)
        let calls = Calls()
        let fetch: GigaChatTokenProvider.Fetch = { _ in
            let n = calls.count.add(1, ordering: .relaxed).newValue
            try await Task.sleep(for: .milliseconds(50))
            return GigaChatAccessToken(value: "token-\(n)", expiresAt: Date().addingTimeInterval(1800))
        }
        let values = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<1000 { group.addTask { try await provider.token(fetch: fetch).value } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(calls.count.load(ordering: .relaxed) == 1)
        #expect(values == ["token-1"])
    }

    /// A wall clock the test moves.
    final class TestClock: Sendable {
        let offset = Mutex<TimeInterval>(0)
        let start = Date()
        var now: Date { start.addingTimeInterval(offset.withLock { $0 }) }
        func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
    }

    /// A fetch that hands out t1, t2, ... living `lifetime` seconds on the test clock, and can be held.
    final class HeldFetch: Sendable {
        let calls = Atomic<Int>(0)
        let held = Mutex(false)
        let clock: TestClock
        let lifetime: TimeInterval
        init(clock: TestClock, lifetime: TimeInterval) {
            self.clock = clock
            self.lifetime = lifetime
        }
        var fetch: GigaChatTokenProvider.Fetch {
            { [self] _ in
                let n = calls.add(1, ordering: .relaxed).newValue
                while held.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
                return GigaChatAccessToken(value: "t\(n)", expiresAt: clock.now.addingTimeInterval(lifetime))
            }
        }
    }

    /// The token read without the actor is the one the actor would hand out as it is: until the refresh window
    /// opens (a renewable token) or until it is `minimumRemaining` from expiry (a pre-issued one); never after it
    /// was invalidated. Past that, callers ask the actor, which refreshes.
    @Test func theTokenReadWithoutTheActorIsTheOneTheActorWouldHandOut() async throws {
        let clock = TestClock()
        let fetch = HeldFetch(clock: clock, lifetime: 1800)
        let provider = GigaChatTokenProvider(source: Self.source, expiryBuffer: .seconds(60), now: { clock.now })
        #expect(provider.usableToken() == nil)  // none yet
        let first = try await provider.token(fetch: fetch.fetch)
        #expect(provider.usableToken() == first)
        clock.advance(1800 - 60 - 1)  // a second before the refresh window
        #expect(provider.usableToken() == first)
        #expect(try await provider.token(fetch: fetch.fetch) == first)
        #expect(await provider.refreshCount == 1)  // no refresh started by that
        clock.advance(2)  // inside the window: the actor starts a refresh
        #expect(provider.usableToken() == nil)
        _ = try await provider.token(fetch: fetch.fetch)
        #expect(await provider.refreshCount == 2)
        await provider.invalidate(first)
        let deadline = ContinuousClock.now + .seconds(5)
        while provider.usableToken() == first, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(provider.usableToken() != first)

        // Pre-issued, not renewable: usable until minimumRemaining before expiry.
        let issued = GigaChatAccessToken(value: "pre", expiresAt: clock.now.addingTimeInterval(100))
        let fixed = GigaChatTokenProvider(source: nil, initialToken: issued, now: { clock.now })
        #expect(fixed.usableToken() == issued)
        clock.advance(100 - GigaChatTokenProvider.minimumRemaining - 1)
        #expect(fixed.usableToken() == issued)
        clock.advance(2)
        #expect(fixed.usableToken() == nil)
    }

    @Test func refreshesInTheBackgroundAheadOfExpiryWhileServingTheCurrentToken() async throws {
        let clock = TestClock()
        let provider = GigaChatTokenProvider(source: Self.source, expiryBuffer: .seconds(60), now: { clock.now })
        let fetcher = HeldFetch(clock: clock, lifetime: 1800)
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t1")
        // Long before expiry: no refresh.
        clock.advance(1000)
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t1")
        #expect(fetcher.calls.load(ordering: .relaxed) == 1)
        // Within 60 s of expiry, with the token endpoint stalled: t1 is still served at once, one refresh runs.
        fetcher.held.withLock { $0 = true }
        clock.advance(760)
        for _ in 0..<100 { #expect(try await provider.token(fetch: fetcher.fetch).value == "t1") }
        try await Task.sleep(for: .milliseconds(50))
        #expect(fetcher.calls.load(ordering: .relaxed) == 2, "one background refresh, however many callers")
        fetcher.held.withLock { $0 = false }
        var fresh = ""
        for _ in 0..<200 where fresh != "t2" {
            fresh = try await provider.token(fetch: fetcher.fetch).value
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(fresh == "t2")
        #expect(await provider.refreshCount == 2)
    }

    @Test func aRefreshThatHangsIsOutrunByACallerThatWaitedLongerThanItsTimeout() async throws {
        // Defect: the one refresh held every caller without a valid token for as long as the call hung (the
        // connection's idle timeout, 120 s), each of them failing at its own timeout and waiting again.
        let clock = TestClock()
        let provider = GigaChatTokenProvider(source: Self.source, expiryBuffer: .seconds(60), now: { clock.now })
        let fetcher = HeldFetch(clock: clock, lifetime: 1800)
        fetcher.held.withLock { $0 = true }
        await #expect(throws: GigaChatError.self) {
            _ = try await provider.token(timeout: .milliseconds(200), fetch: fetcher.fetch)
        }
        // Within the timeout of its start, a caller waits for the running refresh: no second call.
        await #expect(throws: GigaChatError.self) {
            _ = try await provider.token(timeout: .milliseconds(200), fetch: fetcher.fetch)
        }
        #expect(fetcher.calls.load(ordering: .relaxed) == 1)
        // Later than that (the test clock moved), the next caller starts another beside it and gets its token.
        clock.advance(1)
        fetcher.held.withLock { $0 = false }
        let token = try await provider.token(timeout: .milliseconds(200), fetch: fetcher.fetch)
        #expect(fetcher.calls.load(ordering: .relaxed) == 2)
        #expect(token.value == "t2" || token.value == "t1")
        #expect(await provider.refreshCount == 2)
    }

    @Test func shortLivedTokensAreRefreshedAtHalfTheirLifetimeNotOnEveryCall() async throws {
        let clock = TestClock()
        let provider = GigaChatTokenProvider(source: Self.source, expiryBuffer: .seconds(60), now: { clock.now })
        let fetcher = HeldFetch(clock: clock, lifetime: 30)
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t1")
        clock.advance(10)
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t1")
        #expect(fetcher.calls.load(ordering: .relaxed) == 1, "30 s tokens within the 60 s buffer are not refetched")
        clock.advance(6)  // past half the lifetime
        _ = try await provider.token(fetch: fetcher.fetch)
        try await Task.sleep(for: .milliseconds(50))
        #expect(fetcher.calls.load(ordering: .relaxed) == 2)
    }

    @Test func anExpiredTokenIsWaitedForAndInvalidationReplacesOnlyTheCurrentToken() async throws {
        let clock = TestClock()
        let provider = GigaChatTokenProvider(source: Self.source, expiryBuffer: .seconds(60), now: { clock.now })
        let fetcher = HeldFetch(clock: clock, lifetime: 1800)
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t1")
        clock.advance(1799)  // 1 s left: not usable for a new request
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t2")
        // Invalidating a token that was already replaced changes nothing.
        await provider.invalidate(GigaChatAccessToken(value: "t1", expiresAt: nil))
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t2")
        await provider.invalidate(GigaChatAccessToken(value: "t2", expiresAt: nil))
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t3")
    }

    @Test func aWaitForATokenEndsAtOnceWhenCancelledAndIsBounded() async throws {
        let clock = TestClock()
        let provider = GigaChatTokenProvider(source: Self.source, now: { clock.now })
        let fetcher = HeldFetch(clock: clock, lifetime: 1800)
        fetcher.held.withLock { $0 = true }  // the token endpoint stalls
        let waiting = Task { try await provider.token(fetch: fetcher.fetch) }
        try await Task.sleep(for: .milliseconds(100))
        let cancelledAt = ContinuousClock.now
        waiting.cancel()
        let cancelled = await waiting.result
        // At once, not when the stalled refresh ends (which it never does here); the margin is for a loaded machine.
        #expect(ContinuousClock.now - cancelledAt < .seconds(5), "returned \(ContinuousClock.now - cancelledAt) later")
        #expect((cancelled.error as? GigaChatError)?.code == .cancelled)

        let start = ContinuousClock.now
        let timedOut = await #expect(throws: GigaChatError.self) {
            try await provider.token(timeout: .milliseconds(200), fetch: fetcher.fetch)
        }
        #expect(timedOut?.code == .timeout)
        // Bounded (the refresh never ends); the margin is for a loaded machine, as above (2.2 s seen once).
        #expect(ContinuousClock.now - start < .seconds(5))
        // The stalled refresh was shared: still one call.
        #expect(fetcher.calls.load(ordering: .relaxed) == 1)
        fetcher.held.withLock { $0 = false }
        #expect(try await provider.token(fetch: fetcher.fetch).value == "t1")
    }

    @Test func failedFetchReachesEveryWaiterAndIsNotCached() async throws {
        let provider = GigaChatTokenProvider(source: Self.source)
        let calls = Calls()
        let fetch: GigaChatTokenProvider.Fetch = { _ in
            let n = calls.count.add(1, ordering: .relaxed).newValue
            try await Task.sleep(for: .milliseconds(20))
            if n == 1 { throw GigaChatError(code: .rateLimited, message: "Too many requests", httpStatus: 429) }
            return GigaChatAccessToken(value: "ok", expiresAt: nil)
        }
        let failures = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { (try? await provider.token(fetch: fetch)) == nil } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(failures == 20)
        #expect(try await provider.token(fetch: fetch).value == "ok")
        #expect(calls.count.load(ordering: .relaxed) == 2)
    }

    @Test func preIssuedTokenWithoutSourceCannotBeRenewed() async throws {
        let provider = GigaChatTokenProvider(
            source: nil,
            initialToken: GigaChatAccessToken(value: "pre", expiresAt: nil)
        )
        let fetch: GigaChatTokenProvider.Fetch = { _ in
            Issue.record("no fetch expected"); throw CancellationError()
        }
        #expect(try await provider.token(fetch: fetch).value == "pre")
        await provider.invalidate(GigaChatAccessToken(value: "pre", expiresAt: nil))
        let error = await #expect(throws: GigaChatError.self) { try await provider.token(fetch: fetch) }
        #expect(error?.code == .unauthorized)
    }

    @Test func registrySharesProvidersPerSource() {
        let a = GigaChatTokenProvider.shared(source: .oauth(url: "u", credentials: "k1", scope: "S"))
        let b = GigaChatTokenProvider.shared(source: .oauth(url: "u", credentials: "k1", scope: "S"))
        let c = GigaChatTokenProvider.shared(source: .oauth(url: "u", credentials: "k1", scope: "T"))
        let d = GigaChatTokenProvider.shared(source: .oauth(url: "u", credentials: "k2", scope: "S"))
        #expect(a === b)
        #expect(a !== c)
        #expect(a !== d)
    }

    @Test func expiryUnits() {
        let ms = GigaChatAccessToken.expiryDate(fromWire: 1_706_026_848_841)
        let s = GigaChatAccessToken.expiryDate(fromWire: 1_706_026_848)
        #expect(abs(ms.timeIntervalSince1970 - 1_706_026_848.841) < 0.001)
        #expect(s.timeIntervalSince1970 == 1_706_026_848)
        #expect(!"\(GigaChatAccessToken(value: "secret-token", expiresAt: nil))".contains("secret-token"))
        #expect(!"\(GigaChatTokenSource.oauth(url: "u", credentials: "secret-key", scope: "S"))".contains("secret-key"))
    }
}

extension Result {
    var error: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
