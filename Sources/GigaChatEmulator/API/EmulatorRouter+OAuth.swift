import Foundation
import NIOCore
import NIOHTTP1

// MARK: - EmulatorRouter + OAuth

extension EmulatorRouter {
    /// `POST /api/v2/oauth`: form `scope=...`, `Authorization: Basic <key>`, `RqUID: <uuid>`.
    ///
    /// Checks, in order: `RqUID` (missing or not a UUID -> 400), the Authorization header (missing or not base64 ->
    /// 400 code 4; a key outside ``GigaChatEmulatorConfiguration/authorizationKeys`` -> 401 code 6), the scope
    /// (empty -> 400 code 5, unknown -> 400 code 1). The key may follow `Basic` or `Bearer`: the official docs show
    /// both for this endpoint. RqUID must be a version 4 UUID, as the docs require (the 400 body's code 3 and text
    /// are the emulator's own: the real ones are not documented).
    func oauth(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        let delay = TimeAmount(state.faults.oauthDelay)
        var response =
            state.admitOAuth(nowMilliseconds: Self.nowMilliseconds())
            ? oauthOutcome(request, allocator: allocator)
            : oauthError(.tooManyRequests, code: 429, "Too many requests", allocator: allocator)
        response.delay = delay
        return response
    }

    private func oauthOutcome(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        guard let rqUID = request.headers.first(name: "RqUID"), Self.isUUID4(rqUID) else {
            return oauthError(.badRequest, code: 3, "RqUID header is missing or is not a UUID4", allocator: allocator)
        }
        guard
            let key = Self.credentials(in: request.headers, scheme: "basic")
                ?? Self.credentials(in: request.headers, scheme: "bearer"),
            !key.isEmpty, Data(base64Encoded: key) != nil
        else {
            return oauthError(.badRequest, code: 4, "Can't decode 'Authorization' header", allocator: allocator)
        }
        if let accepted = configuration.authorizationKeys, !accepted.contains(key) {
            return oauthError(.unauthorized, code: 6, "credentials doesn't match db data", allocator: allocator)
        }
        let form = Self.formFields(String(buffer: request.body))
        guard let scope = form["scope"], !scope.isEmpty else {
            return oauthError(.badRequest, code: 5, "scope is empty", allocator: allocator)
        }
        guard configuration.scopes.contains(scope) else {
            return oauthError(.badRequest, code: 1, "scope data format invalid", allocator: allocator)
        }
        let token = Self.newToken()
        let expiresAt = Self.nowMilliseconds() + Int64(TimeAmount(configuration.tokenLifetime).nanoseconds / 1_000_000)
        // The account is derived from the key without keeping the key itself in memory longer than needed.
        let account = "key:\(String(GigaChatEmulator.stableHash(key), radix: 16)):\(scope)"
        state.issue(
            token: token,
            to: .init(account: account, scope: scope, expiresAtMilliseconds: expiresAt),
            now: Self.nowMilliseconds()
        )
        var buffer = allocator.buffer(capacity: 128)
        // A clock-skew fault can make the answer say the token lives longer than it does.
        let reported = expiresAt + Int64(TimeAmount(state.faults.tokenExpiryReportedLate).nanoseconds / 1_000_000)
        EmulatorJSON.object([("access_token", .string(token)), ("expires_at", .number(Double(reported)))])
            .write(into: &buffer)
        return EmulatorResponse(status: .ok, headers: oauthHeaders(), body: .bytes(buffer))
    }

    /// `POST /api/v1/token` with HTTP Basic `user:password` -> `{"tok":"...","exp":<ms>}`.
    ///
    /// `exp` is in milliseconds, which is what the official SDK compares it with.
    func passwordToken(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        state.count { $0.passwordTokenCalls += 1 }
        guard
            let encoded = Self.credentials(in: request.headers, scheme: "basic"),
            let decoded = Data(base64Encoded: encoded).flatMap({ String(data: $0, encoding: .utf8) }),
            let colon = decoded.firstIndex(of: ":")
        else {
            return apiError(.unauthorized, "Unauthorized", request, allocator: allocator)
        }
        let user = String(decoded[..<colon])
        let password = String(decoded[decoded.index(after: colon)...])
        guard let expected = configuration.users[user], expected == password else {
            return apiError(.unauthorized, "Unauthorized", request, allocator: allocator)
        }
        let token = Self.newToken()
        let expiresAt = Self.nowMilliseconds() + Int64(TimeAmount(configuration.tokenLifetime).nanoseconds / 1_000_000)
        state.issue(
            token: token,
            to: .init(account: "user:\(user)", scope: "user", expiresAtMilliseconds: expiresAt),
            now: Self.nowMilliseconds()
        )
        return json(
            .ok,
            .object([("tok", .string(token)), ("exp", .number(Double(expiresAt)))]),
            request,
            allocator: allocator
        )
    }

    private func oauthHeaders() -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Cache-Control", value: "no-cache, no-store, max-age=0, must-revalidate")
        headers.add(name: "Pragma", value: "no-cache")
        return headers
    }

    /// An OAuth error: `{"code":N,"message":"..."}` (the OAuth service uses `code`, the API `status`).
    private func oauthError(
        _ status: HTTPResponseStatus,
        code: Int,
        _ message: String,
        allocator: ByteBufferAllocator
    ) -> EmulatorResponse {
        var buffer = allocator.buffer(capacity: 64 + message.utf8.count)
        EmulatorJSON.object([("code", .number(Double(code))), ("message", .string(message))]).write(into: &buffer)
        return EmulatorResponse(status: status, headers: oauthHeaders(), body: .bytes(buffer))
    }

    /// A textual UUID (any case) whose version digit is 4.
    static func isUUID4(_ text: String) -> Bool {
        guard UUID(uuidString: text) != nil else { return false }
        let characters = Array(text.utf8)
        return characters.count == 36 && characters[14] == UInt8(ascii: "4")
    }

    /// Decodes an `application/x-www-form-urlencoded` body (`+` is a space, `%XX` escapes); the first value wins.
    static func formFields(_ body: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if fields[name] == nil { fields[name] = value }
        }
        return fields
    }
}
