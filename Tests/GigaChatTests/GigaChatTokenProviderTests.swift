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

    @Test func refreshesAheadOfExpiryAndAfterInvalidation() async throws {
        let provider = GigaChatTokenProvider(source: Self.source, expiryBuffer: .seconds(60))
        let calls = Calls()
        let lifetime = Mutex<TimeInterval>(30)
        let fetch: GigaChatTokenProvider.Fetch = { _ in
            let n = calls.count.add(1, ordering: .relaxed).newValue
            return GigaChatAccessToken(value: "t\(n)", expiresAt: Date().addingTimeInterval(lifetime.withLock { $0 }))
        }
        // Lives 30 s < 60 s buffer: used by the call that fetched it, then replaced on the next call.
        #expect(try await provider.token(fetch: fetch).value == "t1")
        #expect(try await provider.token(fetch: fetch).value == "t2")
        lifetime.withLock { $0 = 1800 }
        #expect(try await provider.token(fetch: fetch).value == "t3")
        #expect(try await provider.token(fetch: fetch).value == "t3")
        // Invalidating a token that was already replaced changes nothing.
        await provider.invalidate(GigaChatAccessToken(value: "t2", expiresAt: nil))
        #expect(try await provider.token(fetch: fetch).value == "t3")
        await provider.invalidate(GigaChatAccessToken(value: "t3", expiresAt: nil))
        #expect(try await provider.token(fetch: fetch).value == "t4")
        #expect(calls.count.load(ordering: .relaxed) == 4)
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
