/// Settings of a ``GigaChatClient``, named and defaulted like the official Python SDK (`gigachat`).
///
/// Build it in code or read it from the environment with ``fromEnvironment(_:)`` (the SDK's `GIGACHAT_*`
/// variables). Where this client differs from the SDK it says so: retries are on by default (a batch worker
/// wants them), and `GIGACHAT_TIMEOUT` is an idle-between-bytes timeout, never a total one.
/// ``description`` redacts every secret.
public struct GigaChatConfiguration: Sendable, CustomStringConvertible {
    /// Timeouts. There is deliberately no short total timeout: long generations must not be cut.
    public struct Timeouts: Sendable, Hashable {
        /// TCP (and proxy) connect timeout. Default: 10 s.
        public var connect: Duration
        /// Longest silence between two reads of a response (headers or body bytes). `GIGACHAT_TIMEOUT`.
        /// Default: 120 s (the SDK's 30 s cuts long non-streamed generations of big models).
        public var idle: Duration
        /// Optional deadline for one whole call including retries and, for streams, the whole body.
        /// Default: `nil` (none).
        public var deadline: Duration?
        /// The longest a call waits for an access token when there is no valid one (a valid token is served while
        /// it is refreshed in the background, so this only matters when the token endpoint is slow and the token
        /// expired); a token call that has run longer than this when a caller needs a token is taken as lost, and
        /// another starts. Default: 30 s.
        public var token: Duration

        /// Creates timeouts.
        public init(
            connect: Duration = .seconds(10),
            idle: Duration = .seconds(120),
            deadline: Duration? = nil,
            token: Duration = .seconds(30)
        ) {
            self.connect = connect
            self.idle = idle
            self.deadline = deadline
            self.token = token
        }
    }

    /// Retry policy for 429, 5xx, connection failures, timeouts and a stream cut before any output.
    public struct Retry: Sendable, Hashable {
        /// Retries after the first attempt (0 = off). `GIGACHAT_MAX_RETRIES`. Default: 3 (the SDK's default is 0;
        /// a batch worker should ride out a short overload instead of failing jobs).
        public var maxRetries: Int
        /// Base of the exponential backoff: attempt `k` waits a random time in `0...min(maxDelay, factor * 2^k)`
        /// ("full jitter"). `GIGACHAT_RETRY_BACKOFF_FACTOR` (seconds). Default: 0.5 s.
        public var backoffFactor: Duration
        /// Upper bound of one wait, also for `Retry-After`. Default: 60 s (as the SDK).
        public var maxDelay: Duration
        /// HTTP statuses that are retried. Default: 429, 500, 502, 503, 504 (as the SDK).
        public var retryOnStatusCodes: Set<Int>

        /// Creates a retry policy.
        public init(
            maxRetries: Int = 3,
            backoffFactor: Duration = .milliseconds(500),
            maxDelay: Duration = .seconds(60),
            retryOnStatusCodes: Set<Int> = [429, 500, 502, 503, 504]
        ) {
            self.maxRetries = maxRetries
            self.backoffFactor = backoffFactor
            self.maxDelay = maxDelay
            self.retryOnStatusCodes = retryOnStatusCodes
        }
    }

    /// TLS settings. Verification is on unless explicitly turned off.
    public struct TLS: Sendable, Hashable {
        /// Verify server certificates. `GIGACHAT_VERIFY_SSL_CERTS`. Default: `true`.
        /// As in the SDK, a ``caBundleFile`` keeps verification on even when this is `false`.
        public var verifyCertificates: Bool
        /// Trust the built-in Russian Trusted Root CA in addition to the system roots. Default: `true`.
        public var trustRussianRootCA: Bool
        /// A PEM file of extra trusted CAs (added to the system roots and the built-in CA).
        /// `GIGACHAT_CA_BUNDLE_FILE`. Default: `nil`.
        public var caBundleFile: String?
        /// Client certificate chain (PEM) for mTLS. `GIGACHAT_CERT_FILE`. Default: `nil`.
        public var certificateFile: String?
        /// Client private key (PEM) for mTLS. `GIGACHAT_KEY_FILE`. Default: `nil`.
        public var keyFile: String?
        /// Password of an encrypted ``keyFile``. `GIGACHAT_KEY_FILE_PASSWORD`. Default: `nil`.
        public var keyFilePassword: String?

        /// Creates TLS settings.
        public init(
            verifyCertificates: Bool = true,
            trustRussianRootCA: Bool = true,
            caBundleFile: String? = nil,
            certificateFile: String? = nil,
            keyFile: String? = nil,
            keyFilePassword: String? = nil
        ) {
            self.verifyCertificates = verifyCertificates
            self.trustRussianRootCA = trustRussianRootCA
            self.caBundleFile = caBundleFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
            self.keyFilePassword = keyFilePassword
        }
    }

    /// An HTTP proxy, used with `CONNECT` for every request (OAuth and API, http and https alike).
    public struct Proxy: Sendable, Hashable {
        /// Proxy host.
        public var host: String
        /// Proxy port.
        public var port: Int
        /// Proxy user (Basic `Proxy-Authorization`), when the proxy needs one.
        public var user: String?
        /// Proxy password.
        public var password: String?

        /// Creates a proxy setting.
        public init(host: String, port: Int, user: String? = nil, password: String? = nil) {
            self.host = host
            self.port = port
            self.user = user
            self.password = password
        }
    }

    /// The API root. `GIGACHAT_BASE_URL`. Default: `https://gigachat.devices.sberbank.ru/api/v1`.
    public var baseURL: String
    /// The OAuth endpoint. `GIGACHAT_AUTH_URL`. Default: `https://ngw.devices.sberbank.ru:9443/api/v2/oauth`.
    public var authURL: String
    /// The authorization key (Base64 of `client_id:client_secret`), sent as given. `GIGACHAT_CREDENTIALS`.
    public var credentials: String?
    /// The OAuth scope. `GIGACHAT_SCOPE`. Default: `GIGACHAT_API_PERS`.
    public var scope: String
    /// A pre-issued access token, used until the API rejects it (then OAuth if credentials are set).
    /// `GIGACHAT_ACCESS_TOKEN`.
    public var accessToken: String?
    /// User for `POST {baseURL}/token` (corporate contours). `GIGACHAT_USER`.
    public var user: String?
    /// Password for `POST {baseURL}/token`. `GIGACHAT_PASSWORD`.
    public var password: String?
    /// The default model. `GIGACHAT_MODEL`. Default: `GigaChat`.
    public var model: String
    /// Default `profanity_check` for chat requests. `GIGACHAT_PROFANITY_CHECK`. Default: `nil` (not sent).
    public var profanityCheck: Bool?
    /// Default `flags` for chat requests. `GIGACHAT_FLAGS` (comma-separated). Default: `nil`.
    public var flags: [String]?
    /// The chat API of a request that does not name one (``ChatRequest/api``). `GIGACHAT_API` (`v1` or `v2`).
    /// Default: ``GigaChatAPI/v1``.
    public var api: GigaChatAPI
    /// Timeouts.
    public var timeouts: Timeouts
    /// Retry policy.
    public var retry: Retry
    /// TLS settings.
    public var tls: TLS
    /// Proxy. `GIGACHAT_PROXY`, else `HTTPS_PROXY`/`HTTP_PROXY` (see ``fromEnvironment(_:)``). Default: `nil`.
    public var proxy: Proxy?
    /// Most connections per host (calls beyond it wait for one, in order); with a proxy, for each of the client's
    /// two AsyncHTTPClient pools (streams read by callbacks, and every other call). `GIGACHAT_MAX_CONNECTIONS`.
    /// Default: 100 (httpx's default, which the SDK uses).
    public var maxConnections: Int
    /// Refresh a token this long before it expires. `GIGACHAT_TOKEN_EXPIRY_BUFFER_MS`. Default: 60 s.
    public var tokenExpiryBuffer: Duration
    /// Largest accepted non-streamed response body. Default: 64 MiB.
    public var maxResponseBytes: Int
    /// `User-Agent` header. Default: `gigachat-worker-swift`.
    public var userAgent: String

    /// Creates a configuration; every parameter has the documented default.
    public init(
        baseURL: String = "https://gigachat.devices.sberbank.ru/api/v1",
        authURL: String = "https://ngw.devices.sberbank.ru:9443/api/v2/oauth",
        credentials: String? = nil,
        scope: String = "GIGACHAT_API_PERS",
        accessToken: String? = nil,
        user: String? = nil,
        password: String? = nil,
        model: String = "GigaChat",
        profanityCheck: Bool? = nil,
        flags: [String]? = nil,
        api: GigaChatAPI = .v1,
        timeouts: Timeouts = Timeouts(),
        retry: Retry = Retry(),
        tls: TLS = TLS(),
        proxy: Proxy? = nil,
        maxConnections: Int = 100,
        tokenExpiryBuffer: Duration = .seconds(60),
        maxResponseBytes: Int = 64 << 20,
        userAgent: String = "gigachat-worker-swift"
    ) {
        self.baseURL = baseURL
        self.authURL = authURL
        self.credentials = credentials
        self.scope = scope
        self.accessToken = accessToken
        self.user = user
        self.password = password
        self.model = model
        self.profanityCheck = profanityCheck
        self.flags = flags
        self.api = api
        self.timeouts = timeouts
        self.retry = retry
        self.tls = tls
        self.proxy = proxy
        self.maxConnections = maxConnections
        self.tokenExpiryBuffer = tokenExpiryBuffer
        self.maxResponseBytes = maxResponseBytes
        self.userAgent = userAgent
    }

    /// Checks the settings once, before use.
    /// - Throws: ``GigaChatError`` with code ``GigaChatError/Code/configuration``.
    public func validate() throws {
        func fail(_ message: String) -> GigaChatError { GigaChatError(code: .configuration, message: message) }
        guard self.credentials != nil || self.accessToken != nil || (self.user != nil && self.password != nil) else {
            throw fail(
                "no authentication: set GIGACHAT_CREDENTIALS, GIGACHAT_ACCESS_TOKEN or GIGACHAT_USER and GIGACHAT_PASSWORD"
            )
        }
        for (name, url) in [("base URL", self.baseURL), ("auth URL", self.authURL)] {
            guard url.hasPrefix("https://") || url.hasPrefix("http://") else {
                throw fail("\(name) must start with http:// or https://: \(url)")
            }
        }
        guard self.retry.maxRetries >= 0 else { throw fail("max retries must be >= 0") }
        guard self.maxConnections > 0 else { throw fail("max connections must be > 0") }
        guard (self.tls.certificateFile == nil) == (self.tls.keyFile == nil) else {
            throw fail("GIGACHAT_CERT_FILE and GIGACHAT_KEY_FILE must be set together")
        }
        guard self.timeouts.connect > .zero, self.timeouts.idle > .zero else { throw fail("timeouts must be > 0") }
    }

    public var description: String {
        func secret(_ value: String?) -> String { value == nil ? "nil" : "<redacted>" }
        var parts = [
            "baseURL: \(self.baseURL)", "authURL: \(self.authURL)", "credentials: \(secret(self.credentials))",
            "scope: \(self.scope)", "accessToken: \(secret(self.accessToken))", "user: \(self.user ?? "nil")",
            "password: \(secret(self.password))", "model: \(self.model)", "api: \(self.api.rawValue)",
            "timeouts: connect \(self.timeouts.connect), idle \(self.timeouts.idle), deadline \(self.timeouts.deadline.map { "\($0)" } ?? "none")",
            "retry: max \(self.retry.maxRetries), factor \(self.retry.backoffFactor), cap \(self.retry.maxDelay)",
            "tls: verify \(self.tls.verifyCertificates), russianRootCA \(self.tls.trustRussianRootCA), caBundle \(self.tls.caBundleFile ?? "nil"), cert \(self.tls.certificateFile ?? "nil"), key \(self.tls.keyFile ?? "nil"), keyPassword \(secret(self.tls.keyFilePassword))",
            "maxConnections: \(self.maxConnections)", "tokenExpiryBuffer: \(self.tokenExpiryBuffer)",
        ]
        if let proxy = self.proxy {
            parts.append(
                "proxy: \(proxy.host):\(proxy.port)\(proxy.user == nil ? "" : " (with credentials <redacted>)")"
            )
        }
        return "GigaChatConfiguration(\(parts.joined(separator: ", ")))"
    }
}
