import Foundation
import NIOCore
import NIOHTTP1

/// Maps a request to its response. Pure apart from the shared ``EmulatorState``: no I/O, so it runs on the event
/// loop that read the request.
struct EmulatorRouter: Sendable {
    let configuration: GigaChatEmulatorConfiguration
    let state: EmulatorState
    /// Model ids in the configured order, and their types.
    let modelTypes: [String: String]

    init(configuration: GigaChatEmulatorConfiguration, state: EmulatorState) {
        self.configuration = configuration
        self.state = state
        var types: [String: String] = [:]
        for id in configuration.models { types[id] = GigaChatEmulatorConfiguration.modelType(of: id) }
        self.modelTypes = types
    }

    func respond(to request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        let path = request.path
        let modelPrefix = "/api/v1/models/"
        let route: (method: HTTPMethod, handle: (EmulatorRequest, ByteBufferAllocator) -> EmulatorResponse)
        switch path {
        case "/api/v2/oauth": route = (.POST, self.oauth)
        case "/api/v1/token": route = (.POST, self.passwordToken)
        case "/api/v1/chat/completions": route = (.POST, { self.chatCompletions($0, allocator: $1, api: .v1) })
        case "/api/v2/chat/completions": route = (.POST, { self.chatCompletions($0, allocator: $1, api: .v2) })
        case "/api/v1/models": route = (.GET, self.models)
        case "/api/v1/tokens/count": route = (.POST, self.tokensCount)
        case "/api/v1/embeddings": route = (.POST, self.embeddings)
        case "/api/v1/balance": route = (.GET, self.balance)
        case "/admin/faults":
            guard request.method == .GET || request.method == .POST else {
                return methodNotAllowed(request, allocator: allocator)
            }
            return adminFaults(request, allocator: allocator)
        case "/admin/counters": route = (.GET, self.adminCounters)
        case _ where path == "/api/v1/files" || path.hasPrefix("/api/v1/files/"):
            return filesRoute(request, allocator: allocator)
                ?? apiError(.notFound, "Not Found", request, allocator: allocator)
        case _ where path.hasPrefix(modelPrefix) && path.count > modelPrefix.count:
            let id = String(path.dropFirst(modelPrefix.count))
            route = (.GET, { self.model(id: id.removingPercentEncoding ?? id, $0, allocator: $1) })
        default:
            return apiError(.notFound, "Not Found", request, allocator: allocator)
        }
        guard request.method == route.method else { return methodNotAllowed(request, allocator: allocator) }
        return route.handle(request, allocator)
    }

    func payloadTooLarge(request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        apiError(.payloadTooLarge, "Payload too large", request, allocator: allocator)
    }

    private func methodNotAllowed(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        var response = apiError(.methodNotAllowed, "Method Not Allowed", request, allocator: allocator)
        response.headers.add(name: "Allow", value: "GET, POST")
        return response
    }

    // MARK: Building responses

    /// Headers every API (not OAuth) response carries, as the real gateway sends them: the request id echoed from
    /// `X-Request-ID` (or a new UUID) and the session id echoed from `X-Session-ID` (or a new UUID).
    func apiHeaders(for request: EmulatorRequest, contentType: String = "application/json; charset=utf-8")
        -> HTTPHeaders
    {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "X-Request-Id", value: request.headers.first(name: "X-Request-ID") ?? Self.newUUID())
        headers.add(name: "X-Session-Id", value: request.headers.first(name: "X-Session-ID") ?? Self.newUUID())
        return headers
    }

    func json(
        _ status: HTTPResponseStatus,
        _ value: EmulatorJSON,
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    ) -> EmulatorResponse {
        var buffer = allocator.buffer(capacity: 256)
        value.write(into: &buffer)
        return EmulatorResponse(status: status, headers: apiHeaders(for: request), body: .bytes(buffer))
    }

    /// An API error: `{"status":N,"message":"..."}` followed by a newline — the real gateway's 404 body is 40
    /// bytes of JSON with `Content-Length: 41`.
    func apiError(
        _ status: HTTPResponseStatus,
        _ message: String,
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    ) -> EmulatorResponse {
        var buffer = allocator.buffer(capacity: 64 + message.utf8.count)
        EmulatorJSON.object([("status", .number(Double(status.code))), ("message", .string(message))])
            .write(into: &buffer)
        buffer.writeStaticString("\n")
        var response = EmulatorResponse(status: status, headers: apiHeaders(for: request), body: .bytes(buffer))
        if status == .tooManyRequests, let retryAfter = state.faults.retryAfter {
            response.headers.add(name: "Retry-After", value: String(retryAfter))
        }
        return response
    }

    /// The message the real API uses for an injected status.
    static func standardMessage(for status: Int) -> String {
        switch status {
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Permission denied"
        case 404: "No such model"
        case 413: "Payload too large"
        case 422: "Invalid params"
        case 429: "Too many requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: HTTPResponseStatus(statusCode: status).reasonPhrase
        }
    }

    // MARK: Authentication of API calls

    /// The token a request's `Authorization: Bearer` header carries, or the 401 to answer.
    func authenticate(
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    ) -> Result<EmulatorState.IssuedToken, EmulatorErrorResponse> {
        guard let token = Self.credentials(in: request.headers, scheme: "bearer"), !token.isEmpty else {
            state.count { $0.rejectedUnauthorized += 1 }
            return .failure(
                EmulatorErrorResponse(apiError(.unauthorized, "Unauthorized", request, allocator: allocator))
            )
        }
        switch state.authorize(token: token, now: Self.nowMilliseconds()) {
        case .valid(let issued):
            return .success(issued)
        case .expired:
            state.count {
                $0.rejectedUnauthorized += 1
                $0.rejectedExpired += 1
            }
            return .failure(
                EmulatorErrorResponse(apiError(.unauthorized, "Token has expired", request, allocator: allocator))
            )
        case .unknown:
            state.count { $0.rejectedUnauthorized += 1 }
            return .failure(
                EmulatorErrorResponse(apiError(.unauthorized, "Unauthorized", request, allocator: allocator))
            )
        }
    }

    /// The value after `<scheme> ` in the Authorization header (scheme case-insensitive).
    static func credentials(in headers: HTTPHeaders, scheme: String) -> String? {
        guard let value = headers.first(name: "Authorization") else { return nil }
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == scheme else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func newUUID() -> String {
        UUID().uuidString.lowercased()
    }

    /// A fresh opaque access token: 48 random bytes, base64url, so it looks like (but is not) the real JWE.
    static func newToken() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8]()
        bytes.reserveCapacity(48)
        for _ in 0..<6 {
            withUnsafeBytes(of: generator.next() as UInt64) { bytes.append(contentsOf: $0) }
        }
        return "emu."
            + Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
