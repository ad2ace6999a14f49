import NIOCore

/// Settings of a ``GigaChatEmulator``; every property has a default, so `GigaChatEmulatorConfiguration()` is a
/// working emulator on a free port of 127.0.0.1 that accepts any well-formed authorization key.
public struct GigaChatEmulatorConfiguration: Sendable {
    /// Server-side TLS: a PEM certificate chain and the PEM private key for it.
    public struct TLS: Sendable, Hashable {
        /// Path of the PEM file with the server certificate first, then any intermediates.
        public var certificateChainPath: String
        /// Path of the PEM file with the private key of the server certificate.
        public var privateKeyPath: String

        /// - Parameters:
        ///   - certificateChainPath: PEM certificate chain, leaf first.
        ///   - privateKeyPath: PEM private key.
        public init(certificateChainPath: String, privateKeyPath: String) {
            self.certificateChainPath = certificateChainPath
            self.privateKeyPath = privateKeyPath
        }
    }

    /// The address to bind. Default: `"127.0.0.1"`.
    public var host: String
    /// The port to bind; `0` picks a free port (read it from ``GigaChatEmulator/port`` after `start()`).
    /// Default: `0`.
    public var port: Int
    /// Serve HTTPS with this certificate; `nil` serves plain HTTP. Default: `nil`.
    public var tls: TLS?
    /// The accepted authorization keys (the value after `Basic ` on the OAuth call); `nil` accepts any non-empty
    /// base64 key. A key outside the set is answered 401 `{"code":6,"message":"credentials doesn't match db data"}`.
    /// Default: `nil`.
    public var authorizationKeys: Set<String>?
    /// The accepted OAuth scopes; any other is answered 400 `{"code":1,"message":"scope data format invalid"}`.
    /// Default: `GIGACHAT_API_PERS`, `GIGACHAT_API_B2B`, `GIGACHAT_API_CORP`.
    public var scopes: Set<String>
    /// Users and passwords accepted by `POST /api/v1/token` (HTTP Basic `user:password`). Default: empty.
    public var users: [String: String]
    /// Access tokens the API accepts without an OAuth call and that never expire, as a pre-issued
    /// `GIGACHAT_ACCESS_TOKEN` is used; each counts as its own account (scope `GIGACHAT_API_PERS`). Default: empty.
    public var staticAccessTokens: Set<String>
    /// How long an issued access token is valid; `expires_at` is sent in milliseconds and after it the API
    /// answers 401 `{"status":401,"message":"Token has expired"}`. Default: 30 minutes, as the real API.
    public var tokenLifetime: Duration
    /// The delay before the first event of a stream (and part of the time a non-streamed answer takes).
    /// Default: `.zero`.
    public var timeToFirstToken: Duration
    /// The delay between two events of a stream (a non-streamed answer waits as long as its stream would have).
    /// Default: `.zero`.
    public var chunkDelay: Duration
    /// The number of content events a streamed answer is split into; `nil` sends one event per word, as the real
    /// API sends small pieces. Default: `nil`.
    public var chunkCount: Int?
    /// The models listed by `GET /api/v1/models`; the type (`chat`, `embedder`, `aicheck`, `filter`) is derived
    /// from the name. Chat completions accept the `chat` models, embeddings the `embedder` ones.
    /// Default: ``defaultModels`` (the list the real API returned in 2026).
    public var models: [String]
    /// How long the prefix cache keeps a session's prompt prefix after its last use (the real cache keeps one for
    /// about 30 s, as measured by Sber's gpt2giga project). A chat call with an `X-Session-ID` whose prompt prefix
    /// (every message but the last) is the one the same account's session last sent within this time reports that
    /// prefix's tokens as cached (`precached_prompt_tokens`, v2 `cached_tokens`); without the header nothing is
    /// cached. Default: 30 s.
    public var prefixCacheTTL: Duration
    /// Injected faults; change them on a running emulator with ``GigaChatEmulator/updateFaults(_:)``.
    /// Default: none.
    public var faults: GigaChatEmulatorFaults
    /// The number of event loop threads. Default: `System.coreCount` capped at 4.
    public var eventLoopThreads: Int

    /// The model list the real `GET /api/v1/models` returned on 2026-01-21, with `GigaChat-3-Ultra`, which the docs'
    /// model page lists as current since (2026-07) and which answered the recorded v2 traffic.
    public static let defaultModels: [String] = [
        "GigaChat", "GigaChat-2", "GigaChat-2-Max", "GigaChat-2-Max-preview", "GigaChat-2-Pro",
        "GigaChat-2-Pro-preview", "GigaChat-2-preview", "GigaChat-3-Ultra", "GigaChat-Max", "GigaChat-Max-preview",
        "GigaChat-Plus",
        "GigaChat-Pro", "GigaChat-Pro-preview", "GigaChat-preview", "GigaFilter", "GigaCheckClassification",
        "GigaCheckDetection", "Embeddings", "Embeddings-2", "EmbeddingsGigaR", "GigaEmbeddings-3B-2025-09",
    ]

    /// The OAuth scopes of the real API.
    public static let defaultScopes: Set<String> = ["GIGACHAT_API_PERS", "GIGACHAT_API_B2B", "GIGACHAT_API_CORP"]

    /// Creates a configuration; every parameter has the documented default.
    public init(
        host: String = "127.0.0.1",
        port: Int = 0,
        tls: TLS? = nil,
        authorizationKeys: Set<String>? = nil,
        scopes: Set<String> = GigaChatEmulatorConfiguration.defaultScopes,
        users: [String: String] = [:],
        staticAccessTokens: Set<String> = [],
        tokenLifetime: Duration = .seconds(30 * 60),
        timeToFirstToken: Duration = .zero,
        chunkDelay: Duration = .zero,
        chunkCount: Int? = nil,
        models: [String] = GigaChatEmulatorConfiguration.defaultModels,
        prefixCacheTTL: Duration = .seconds(30),
        faults: GigaChatEmulatorFaults = .init(),
        eventLoopThreads: Int = GigaChatEmulatorConfiguration.defaultEventLoopThreads
    ) {
        self.host = host
        self.port = port
        self.tls = tls
        self.authorizationKeys = authorizationKeys
        self.scopes = scopes
        self.users = users
        self.staticAccessTokens = staticAccessTokens
        self.tokenLifetime = tokenLifetime
        self.timeToFirstToken = timeToFirstToken
        self.chunkDelay = chunkDelay
        self.chunkCount = chunkCount
        self.models = models
        self.prefixCacheTTL = prefixCacheTTL
        self.faults = faults
        self.eventLoopThreads = eventLoopThreads
    }
}

// MARK: - GigaChatEmulatorConfiguration + Defaults

extension GigaChatEmulatorConfiguration {
    /// `System.coreCount` capped at 4: event loops are cheap, but the emulator shares the machine with its client.
    public static var defaultEventLoopThreads: Int { max(1, min(System.coreCount, 4)) }

    /// The `type` the real API reports for a model id: `embedder`, `aicheck`, `filter` or `chat`.
    static func modelType(of id: String) -> String {
        if id.hasPrefix("Embeddings") || id.hasPrefix("GigaEmbeddings") { return "embedder" }
        if id.hasPrefix("GigaCheck") { return "aicheck" }
        if id.hasPrefix("GigaFilter") { return "filter" }
        return "chat"
    }

    /// Checks the values that cannot work, once, before binding.
    func validate() throws(GigaChatEmulatorError) {
        guard (0...65535).contains(port) else {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "port \(port) is out of range")
        }
        guard eventLoopThreads >= 1 else {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "eventLoopThreads must be at least 1")
        }
        if let chunkCount, chunkCount < 1 {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "chunkCount must be at least 1")
        }
        guard tokenLifetime > .zero else {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "tokenLifetime must be positive")
        }
        guard timeToFirstToken >= .zero, chunkDelay >= .zero, prefixCacheTTL >= .zero else {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "delays must not be negative")
        }
        try faults.validate()
    }
}
