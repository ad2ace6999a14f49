/// The one error type of the `GigaChat` module.
///
/// It carries an extensible ``Code``, the HTTP status when the server answered, the server's own message
/// (from `{"status","message"}` or the OAuth `{"code","message"}` body), the `Retry-After` delay when sent,
/// and whether retrying can help. It never contains credentials or tokens: messages are built from
/// server answers and from local facts only, and error bodies are truncated.
public struct GigaChatError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is. Extensible: new codes may be added without breaking callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Backing: String, Sendable, Hashable {
            case badRequest, unauthorized, paymentRequired, forbidden, notFound, payloadTooLarge, unprocessable
            case rateLimited, server, unexpectedStatus, transport, timeout, streamCut, decoding, tls
            case configuration, cancelled
        }

        private let backing: Backing
        private init(_ backing: Backing) { self.backing = backing }

        /// 400: the request is malformed (also OAuth: missing `RqUID`, empty scope). Permanent.
        public static let badRequest = Code(.badRequest)
        /// 401: the token or the authorization key was rejected (after one refresh and retry).
        public static let unauthorized = Code(.unauthorized)
        /// 402: the token package of the model is exhausted. Permanent.
        public static let paymentRequired = Code(.paymentRequired)
        /// 403: permission denied (e.g. `/balance` on a pay-as-you-go account). Permanent.
        public static let forbidden = Code(.forbidden)
        /// 404: no such model or route. Permanent.
        public static let notFound = Code(.notFound)
        /// 413: the request is too large. Permanent.
        public static let payloadTooLarge = Code(.payloadTooLarge)
        /// 422: invalid parameters (`Invalid params: ...`). Permanent.
        public static let unprocessable = Code(.unprocessable)
        /// 429: too many requests (rate or concurrency limit). Retriable, honouring `Retry-After`.
        public static let rateLimited = Code(.rateLimited)
        /// 5xx: the server failed. Retriable.
        public static let server = Code(.server)
        /// Any other HTTP status, or a 200 with the wrong content type.
        public static let unexpectedStatus = Code(.unexpectedStatus)
        /// The connection could not be made or broke. Retriable.
        public static let transport = Code(.transport)
        /// Connect timeout, idle-between-bytes timeout, or the per-call deadline. Retriable.
        public static let timeout = Code(.timeout)
        /// A stream ended without `[DONE]`. Retriable only when no chunk had been delivered yet.
        public static let streamCut = Code(.streamCut)
        /// A response could not be decoded. Permanent.
        public static let decoding = Code(.decoding)
        /// The TLS handshake failed (e.g. an untrusted certificate). Permanent.
        public static let tls = Code(.tls)
        /// The client configuration is invalid (missing credentials, unreadable certificate file, ...).
        public static let configuration = Code(.configuration)
        /// The calling task was cancelled.
        public static let cancelled = Code(.cancelled)

        public var description: String { self.backing.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// A human-readable explanation; the server's message when it sent one. Never contains secrets.
    public var message: String
    /// The HTTP status of the answer, when there was one.
    public var httpStatus: Int?
    /// The server's `Retry-After`, when sent (seconds or an HTTP date, converted to a delay).
    public var retryAfter: Duration?
    /// Whether repeating the same request may succeed.
    public var isRetriable: Bool
    /// The server's `X-Request-Id` for the failed call, when known (useful in support requests).
    public var requestID: String?
    /// A short description of the underlying error, when there was one (never contains secrets).
    public var underlying: String?

    /// Creates an error.
    /// - Parameters:
    ///   - code: What kind of failure this is.
    ///   - message: A human-readable explanation (must not contain secrets).
    ///   - httpStatus: The HTTP status of the answer.
    ///   - retryAfter: The server's requested delay.
    ///   - isRetriable: Whether a retry can help; defaults to what ``Code`` implies.
    ///   - requestID: The server's request id.
    ///   - underlying: A description of the cause.
    public init(
        code: Code,
        message: String,
        httpStatus: Int? = nil,
        retryAfter: Duration? = nil,
        isRetriable: Bool? = nil,
        requestID: String? = nil,
        underlying: String? = nil
    ) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
        self.isRetriable = isRetriable ?? Self.defaultRetriable(code)
        self.requestID = requestID
        self.underlying = underlying
    }

    private static func defaultRetriable(_ code: Code) -> Bool {
        switch code {
        case .rateLimited, .server, .transport, .timeout, .streamCut: return true
        default: return false
        }
    }

    /// The code an HTTP status maps to (401 -> ``Code/unauthorized``, 5xx -> ``Code/server``, ...).
    public static func code(forStatus status: Int) -> Code {
        switch status {
        case 400: return .badRequest
        case 401: return .unauthorized
        case 402: return .paymentRequired
        case 403: return .forbidden
        case 404: return .notFound
        case 413: return .payloadTooLarge
        case 422: return .unprocessable
        case 429: return .rateLimited
        case 500...599: return .server
        default: return .unexpectedStatus
        }
    }

    public var description: String {
        var text = "GigaChatError(\(self.code)"
        if let status = self.httpStatus { text += ", HTTP \(status)" }
        text += "): \(self.message)"
        if let retryAfter = self.retryAfter { text += " (retry after \(retryAfter))" }
        if let requestID = self.requestID { text += " [x-request-id \(requestID)]" }
        if let underlying = self.underlying { text += " (cause: \(underlying))" }
        return text
    }
}
