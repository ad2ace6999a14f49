import Synchronization

/// The emulator's shared mutable state (tokens, counters, faults, concurrency) behind one lock. Every method is
/// short and does no I/O, so event loop threads never wait long for each other.
final class EmulatorState: Sendable {
    /// What an access token was issued to.
    struct IssuedToken: Sendable {
        /// The account whose concurrency budget the token draws from: key and scope, or the user.
        var account: String
        var scope: String
        var expiresAtMilliseconds: Int64
    }

    /// A file uploaded through `POST /files`.
    struct StoredFile: Sendable {
        var id: String
        var filename: String
        var mime: String
        /// `text`, `image` or `audio`.
        var kind: String
        var purpose: String
        var createdAt: Int
        var contents: [UInt8]
    }

    /// The outcome of looking a bearer token up.
    enum Authorization: Sendable {
        case valid(IssuedToken)
        case expired
        case unknown
    }

    /// The outcome of admitting a valid chat call.
    enum ChatAdmission: Sendable {
        /// Go ahead; call ``EmulatorState/finishChat(account:completed:)`` exactly once when the answer ends.
        case admitted
        /// Answer this status instead; nothing to finish.
        case rejected(status: Int)
    }

    private struct Storage {
        var faults: GigaChatEmulatorFaults
        var failFirstPosition = 0
        var counters = GigaChatEmulatorCounters()
        var tokens: [String: IssuedToken] = [:]
        var inFlightByAccount: [String: Int] = [:]
        var random = SystemRandomNumberGenerator()
        /// The second (Unix time) the OAuth rate window counts, and the calls counted in it.
        var oauthWindowSecond: Int64 = 0
        var oauthCallsInWindow = 0
        /// When ``GigaChatEmulatorCounters/concurrentChatSeconds`` was last brought up to date.
        var busyAccruedAt = ContinuousClock.now
        /// Uploaded files, per account, in upload order.
        var files: [String: [StoredFile]] = [:]
        /// The prefix cache: per account and session, the hash of the last prompt prefix and when it expires.
        var prefixes: [String: (prefix: UInt64, expires: ContinuousClock.Instant)] = [:]

        /// Adds the time since the last change times the chats running through it.
        mutating func accrueBusyTime() {
            let now = ContinuousClock.now
            let elapsed = now - busyAccruedAt
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            counters.concurrentChatSeconds += Double(counters.currentConcurrentChats) * seconds
            busyAccruedAt = now
        }
    }

    private let storage: Mutex<Storage>

    init(faults: GigaChatEmulatorFaults, staticAccessTokens: Set<String> = []) {
        var initial = Storage(faults: faults)
        for token in staticAccessTokens {
            initial.tokens[token] = IssuedToken(
                account: "static:\(String(GigaChatEmulator.stableHash(token), radix: 16))",
                scope: "GIGACHAT_API_PERS",
                expiresAtMilliseconds: .max
            )
        }
        storage = Mutex(initial)
    }

    var faults: GigaChatEmulatorFaults {
        storage.withLock { $0.faults }
    }

    /// Stores a file; `false` when the account already has 1,000.
    func storeFile(_ file: StoredFile, of account: String) -> Bool {
        storage.withLock {
            guard $0.files[account, default: []].count < 1_000 else { return false }
            $0.files[account, default: []].append(file)
            $0.counters.uploadedFiles += 1
            return true
        }
    }

    func files(of account: String) -> [StoredFile] {
        storage.withLock { $0.files[account] ?? [] }
    }

    func file(_ id: String, of account: String) -> StoredFile? {
        storage.withLock { $0.files[account]?.first { $0.id == id } }
    }

    /// Deletes a file; `false` when the account has none with that id.
    func deleteFile(_ id: String, of account: String) -> Bool {
        storage.withLock { storage in
            guard let index = storage.files[account]?.firstIndex(where: { $0.id == id }) else { return false }
            storage.files[account]?.remove(at: index)
            storage.counters.deletedFiles += 1
            return true
        }
    }

    /// The prefix cache's answer for one admitted chat: `tokens` when the account's `session` sent the same
    /// `prefix` (a hash) within `ttl`, else 0; either way the session now holds `prefix` for another `ttl`.
    func cachedTokens(account: String, session: String, prefix: UInt64, tokens: Int, ttl: Duration) -> Int {
        storage.withLock { storage in
            let now = ContinuousClock.now
            let key = account + "\u{1F}" + session
            let hit = storage.prefixes[key].map { $0.prefix == prefix && $0.expires > now } ?? false
            if storage.prefixes.count >= 10_000 {
                // A bound, not a policy: expired entries go, and if that frees nothing, everything does.
                storage.prefixes = storage.prefixes.filter { $0.value.expires > now }
                if storage.prefixes.count >= 10_000 { storage.prefixes.removeAll() }
            }
            storage.prefixes[key] = (prefix, now + ttl)
            if hit { storage.counters.cachedPromptTokens += tokens }
            return hit ? tokens : 0
        }
    }

    func updateFaults(_ faults: GigaChatEmulatorFaults) {
        storage.withLock {
            $0.faults = faults
            $0.failFirstPosition = 0
        }
    }

    var counters: GigaChatEmulatorCounters {
        storage.withLock {
            $0.accrueBusyTime()
            return $0.counters
        }
    }

    func resetCounters() {
        storage.withLock {
            $0.busyAccruedAt = .now
            let current = $0.counters.currentConcurrentChats
            $0.counters = GigaChatEmulatorCounters()
            $0.counters.currentConcurrentChats = current
            $0.counters.maxConcurrentChats = current
        }
    }

    func count(_ update: (inout GigaChatEmulatorCounters) -> Void) {
        storage.withLock { update(&$0.counters) }
    }

    // MARK: Tokens

    /// Registers a new token; expired tokens older than an hour are dropped on the way so the table stays small.
    func issue(token: String, to issued: IssuedToken, now: Int64) {
        storage.withLock {
            if $0.tokens.count >= 1024 {
                // Static tokens never expire (Int64.max), so this keeps them.
                $0.tokens = $0.tokens.filter { $0.value.expiresAtMilliseconds > now - 3_600_000 }
            }
            $0.tokens[token] = issued
        }
    }

    /// Every access token issued and still in the table.
    var issuedTokens: [String] {
        storage.withLock { Array($0.tokens.keys) }
    }

    func authorize(token: String, now: Int64) -> Authorization {
        storage.withLock {
            guard let issued = $0.tokens[token] else { return .unknown }
            return now < issued.expiresAtMilliseconds ? .valid(issued) : .expired
        }
    }

    /// Counts one OAuth call against the per-second limit; `false` when it is over the limit.
    func admitOAuth(nowMilliseconds: Int64) -> Bool {
        storage.withLock { state in
            state.counters.oauthCalls += 1
            guard let limit = state.faults.oauthRequestsPerSecond else { return true }
            let second = nowMilliseconds / 1000
            if second != state.oauthWindowSecond {
                state.oauthWindowSecond = second
                state.oauthCallsInWindow = 0
            }
            state.oauthCallsInWindow += 1
            if state.oauthCallsInWindow > limit {
                state.counters.oauthRateLimited += 1
                return false
            }
            return true
        }
    }

    // MARK: Chat admission

    /// Applies the faults to one valid chat call and, when it may proceed, takes a concurrency slot.
    func admitChat(account: String) -> ChatAdmission {
        storage.withLock { state in
            if state.failFirstPosition < state.faults.failFirst.count {
                let status = state.faults.failFirst[state.failFirstPosition]
                state.failFirstPosition += 1
                if status == 429 { state.counters.rateLimited += 1 } else { state.counters.injectedErrors += 1 }
                return .rejected(status: status)
            }
            if state.faults.outage {
                state.counters.injectedErrors += 1
                return .rejected(status: 503)
            }
            if let balance = state.faults.balanceTokens, balance <= 0 {
                state.counters.paymentRequired += 1
                return .rejected(status: 402)
            }
            let inFlight = state.inFlightByAccount[account, default: 0]
            if let limit = state.faults.concurrencyLimitPerToken, inFlight >= limit {
                state.counters.rateLimited += 1
                state.counters.concurrencyRejections += 1
                return .rejected(status: 429)
            }
            let faults = state.faults
            if faults.rateLimitedRate > 0 || faults.internalErrorRate > 0 || faults.unavailableRate > 0 {
                let draw = Double.random(in: 0..<1, using: &state.random)
                if draw < faults.rateLimitedRate {
                    state.counters.rateLimited += 1
                    return .rejected(status: 429)
                }
                if draw < faults.rateLimitedRate + faults.internalErrorRate {
                    state.counters.injectedErrors += 1
                    return .rejected(status: 500)
                }
                if draw < faults.rateLimitedRate + faults.internalErrorRate + faults.unavailableRate {
                    state.counters.injectedErrors += 1
                    return .rejected(status: 503)
                }
            }
            state.inFlightByAccount[account] = inFlight + 1
            state.accrueBusyTime()
            state.counters.currentConcurrentChats += 1
            state.counters.maxConcurrentChats = max(
                state.counters.maxConcurrentChats,
                state.counters.currentConcurrentChats
            )
            return .admitted
        }
    }

    /// Charges an answer's tokens to the balance, when one is set.
    func charge(tokens: Int) {
        storage.withLock { state in
            if let balance = state.faults.balanceTokens { state.faults.balanceTokens = balance - tokens }
        }
    }

    /// With ``GigaChatEmulatorFaults/cutStreamRate``: whether to cut this stream, and after how many events
    /// (1 up to the last before `[DONE]`).
    func randomCut(eventCount: Int) -> Int? {
        storage.withLock { state in
            let rate = state.faults.cutStreamRate
            guard rate > 0, eventCount >= 2, Double.random(in: 0..<1, using: &state.random) < rate else { return nil }
            return Int.random(in: 1...(eventCount - 1), using: &state.random)
        }
    }

    /// Gives back the slot taken by ``admitChat(account:)``.
    func finishChat(account: String, completed: Bool) {
        storage.withLock { state in
            let inFlight = state.inFlightByAccount[account, default: 0]
            if inFlight <= 1 {
                state.inFlightByAccount[account] = nil
            } else {
                state.inFlightByAccount[account] = inFlight - 1
            }
            state.accrueBusyTime()
            state.counters.currentConcurrentChats = max(0, state.counters.currentConcurrentChats - 1)
            if completed { state.counters.completedChats += 1 }
        }
    }
}
