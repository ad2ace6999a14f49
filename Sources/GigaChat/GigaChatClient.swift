import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A client of the GigaChat REST API v1: chat (plain and streamed), models, token counting, embeddings,
/// balance — with a shared, refreshed access token, retries and the Russian Trusted Root CA built in.
///
/// One client holds its connections (the direct transport's pool; AsyncHTTPClient's, for a proxy and the
/// `AsyncSequence` streams); create it once and share it (it is `Sendable`).
/// - Important: Call ``shutdown()`` before the client is released.
public final class GigaChatClient: Sendable {
    /// The settings the client was made with.
    public let configuration: GigaChatConfiguration
    /// The token provider; shared with every client of the same credentials and scope.
    public let tokenProvider: GigaChatTokenProvider

    /// The direct transport (``HTTP1ConnectionPool``): every call but ``stream(_:headers:deadline:)``'s goes through
    /// it, unless a proxy is configured (`nil` then).
    let directPool: HTTP1ConnectionPool?
    /// AsyncHTTPClient: the `AsyncSequence` streams, and every call when a proxy is configured.
    let httpClient: HTTPClient
    /// The pool of ``stream(_:headers:deadline:onChunk:)`` when it cannot go direct (a proxy): the same settings
    /// without AsyncHTTPClient's read timeout, which re-arms a timer on every piece of a body;
    /// ``ChatStreamDelegate`` keeps the idle timeout itself, lazily. `nil` when every stream goes direct.
    let streamingHTTPClient: HTTPClient?
    let logger: Logger
    let retryPolicy: RetryPolicy
    let baseURL: String
    /// The root of v2 calls: ``baseURL`` with its `/vN` suffix made `/v2` (the SDK's rule), else ``baseURL``.
    let v2BaseURL: String
    /// ``baseURL`` and ``v2BaseURL`` split for the direct transport once (`nil`: a URL it does not serve).
    let directBase: (HTTP1Origin, String)?
    let directV2Base: (HTTP1Origin, String)?
    /// Configured secrets, scrubbed from any server text that ends up in an error.
    let secrets: [String]

    /// Creates a client.
    /// - Parameters:
    ///   - configuration: The settings (see ``GigaChatConfiguration/fromEnvironment(_:)``).
    ///   - tokenProvider: A provider to use instead of the process-wide one for the configured credentials.
    ///   - logger: Where the client logs (never secrets).
    /// - Throws: ``GigaChatError`` with code ``GigaChatError/Code/configuration`` for invalid settings.
    public init(
        configuration: GigaChatConfiguration,
        tokenProvider: GigaChatTokenProvider? = nil,
        logger: Logger = Logger(label: "gigachat")
    ) throws {
        try configuration.validate()
        let tls = try configuration.tls.makeTLSConfiguration()
        // Made first: it is the one that can still fail (a TLS context that will not load), and AsyncHTTPClient's
        // clients must be shut down once made.
        if configuration.proxy == nil {
            do {
                self.directPool = try HTTP1ConnectionPool(
                    group: HTTPClient.defaultEventLoopGroup,
                    tls: tls,
                    connectTimeout: TimeAmount(configuration.timeouts.connect),
                    maxConnections: configuration.maxConnections
                )
            } catch {
                throw GigaChatError(code: .configuration, message: "invalid TLS settings", underlying: "\(error)")
            }
        } else {
            self.directPool = nil
        }

        var http = HTTPClient.Configuration()
        http.tlsConfiguration = tls
        http.timeout = .init(connect: .init(configuration.timeouts.connect), read: .init(configuration.timeouts.idle))
        http.connectionPool = .init(
            idleTimeout: .seconds(60),
            concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections
        )
        // The client's own retry policy decides about failed connections; AHC would otherwise keep retrying a
        // failing connect (or TLS handshake) silently until the request's deadline.
        http.connectionPool.retryConnectionEstablishment = false
        http.redirectConfiguration = .disallow
        http.decompression = .disabled
        if let proxy = configuration.proxy {
            let authorization = proxy.user.map {
                HTTPClient.Authorization.basic(username: $0, password: proxy.password ?? "")
            }
            http.proxy = .server(host: proxy.host, port: proxy.port, authorization: authorization)
        }
        self.httpClient = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: http)

        let base = configuration.baseURL
        self.baseURL = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.v2BaseURL = Self.v2Root(of: self.baseURL)
        self.directBase = HTTP1Origin.split(self.baseURL)
        self.directV2Base = HTTP1Origin.split(self.v2BaseURL)
        // Made only when some callback stream may not go direct.
        if self.directPool == nil || self.directBase == nil || self.directV2Base == nil {
            var streaming = http
            streaming.timeout.read = nil
            self.streamingHTTPClient = HTTPClient(
                eventLoopGroup: HTTPClient.defaultEventLoopGroup,
                configuration: streaming
            )
        } else {
            self.streamingHTTPClient = nil
        }
        let source: GigaChatTokenSource?
        if let credentials = configuration.credentials {
            source = .oauth(url: configuration.authURL, credentials: credentials, scope: configuration.scope)
        } else if let user = configuration.user, let password = configuration.password {
            source = .password(url: self.baseURL + "/token", user: user, password: password)
        } else {
            source = nil
        }
        if let tokenProvider {
            self.tokenProvider = tokenProvider
        } else if let accessToken = configuration.accessToken {
            // A pre-issued token belongs to this client; credentials, if any, take over once it is rejected.
            self.tokenProvider = GigaChatTokenProvider(
                source: source,
                initialToken: GigaChatAccessToken(value: accessToken, expiresAt: nil),
                expiryBuffer: configuration.tokenExpiryBuffer
            )
        } else if let source {
            self.tokenProvider = .shared(source: source, expiryBuffer: configuration.tokenExpiryBuffer)
        } else {
            throw GigaChatError(code: .configuration, message: "no authentication configured")
        }
        self.configuration = configuration
        self.logger = logger
        self.retryPolicy = RetryPolicy(configuration: configuration.retry)
        self.secrets = [
            configuration.credentials, configuration.accessToken, configuration.password,
            configuration.tls.keyFilePassword, configuration.proxy?.password,
        ].compactMap { $0 }.filter { $0.count >= 4 }
    }

    /// Closes the connection pools. Calls made afterwards fail.
    public func shutdown() async throws {
        await self.directPool?.shutdown()
        let streamingShutdown: Result<Void, any Error>
        do {
            try await self.streamingHTTPClient?.shutdown()
            streamingShutdown = .success(())
        } catch {
            streamingShutdown = .failure(error)
        }
        try await self.httpClient.shutdown()
        try streamingShutdown.get()
    }

    // MARK: - Request plumbing

    func deadline(_ override: Duration?) -> NIODeadline {
        guard let duration = override ?? self.configuration.timeouts.deadline else { return .distantFuture }
        return .now() + TimeAmount(duration)
    }

    /// `https://host/api/v1` → `https://host/api/v2`; a base without a version suffix stays as it is.
    static func v2Root(of base: String) -> String {
        guard let slash = base.lastIndex(of: "/") else { return base }
        let last = base[base.index(after: slash)...]
        guard last.count >= 2, last.first == "v", last.dropFirst().allSatisfy(\.isASCII),
            last.dropFirst().allSatisfy(\.isNumber)
        else { return base }
        return base[..<slash] + "/v2"
    }

    /// The root a chat call of `api` goes to.
    func root(for api: GigaChatAPI) -> String {
        api == .v2 ? self.v2BaseURL : self.baseURL
    }

    /// The headers of every call: the caller's extra and tracing headers, authorization, `Accept`, `User-Agent`.
    func requestHeaders(token: String, headers: GigaChatRequestHeaders, accept: String) -> HTTPHeaders {
        var fields = HTTPHeaders()
        for (name, value) in headers.additional where name.lowercased() != "authorization" {
            fields.replaceOrAdd(name: name, value: value)
        }
        fields.replaceOrAdd(name: "Authorization", value: "Bearer \(token)")
        fields.replaceOrAdd(name: "Accept", value: accept)
        fields.replaceOrAdd(name: "User-Agent", value: self.configuration.userAgent)
        if let requestID = headers.requestID { fields.replaceOrAdd(name: "X-Request-ID", value: requestID) }
        if let sessionID = headers.sessionID { fields.replaceOrAdd(name: "X-Session-ID", value: sessionID) }
        if let clientID = headers.clientID { fields.replaceOrAdd(name: "X-Client-ID", value: clientID) }
        return fields
    }

    /// Runs one HTTP exchange, mapping transport failures to ``GigaChatError``.
    func execute(_ request: HTTPClientRequest, deadline: NIODeadline) async throws -> HTTPClientResponse {
        do {
            let response = try await self.httpClient.execute(request, deadline: deadline)
            GigaChatRequestMetrics.shared.record(url: request.url, status: Int(response.status.code))
            return response
        } catch {
            GigaChatRequestMetrics.shared.record(url: request.url, status: nil)
            throw GigaChatError.wrapping(error)
        }
    }

    /// Throws the mapped error of a non-2xx answer of AsyncHTTPClient (see ``errorAnswer(_:deadline:)``).
    func checkStatus(
        _ response: HTTPClientResponse,
        deadline: NIODeadline,
        secrets extra: [String]
    ) async throws {
        guard !(200..<300).contains(response.status.code) else { return }
        let answer = await self.errorAnswer(response, deadline: deadline)
        if let error = self.statusError(of: answer, secrets: extra) { throw error }
    }

    /// Collects a whole body within the deadline, mapping transport failures.
    func collect(
        _ response: HTTPClientResponse,
        deadline: NIODeadline,
        limit: Int
    ) async throws -> ByteBuffer {
        do {
            return try await ResponseBodyReader.collect(
                response.body,
                upTo: limit,
                deadline: deadline,
                eventLoop: self.httpClient.eventLoopGroup.any()
            )
        } catch is NIOTooManyBytesError {
            throw GigaChatError.answerTooLarge(limit: limit)
        } catch {
            throw GigaChatError.wrapping(error)
        }
    }

    func scrub(_ text: String, extra: [String] = []) -> String {
        var text = text
        for secret in self.secrets + extra where secret.count >= 4 && text.contains(secret) {
            text = text.replacingOccurrences(of: secret, with: "<redacted>")
        }
        return text
    }

    /// Retries `operation` per the policy: retriable errors, up to `maxRetries`, within the deadline.
    /// - Parameter what: The call, for the log line of a retry (made only then: interpolating an `HTTPMethod` goes
    ///   through reflection, which cost a plain job 10,000 instructions when it was made for every call).
    func withRetries<T>(
        _ what: @autoclosure () -> String,
        deadline: NIODeadline,
        enabled: Bool = true,
        _ operation: () async throws -> T
    ) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await operation()
            } catch  where !enabled {
                throw GigaChatError.wrapping(error)
            } catch {
                let failure = GigaChatError.wrapping(error)
                let delay = try self.retryDelay(for: failure, attempt: attempt, deadline: deadline, what: what())
                try await Self.sleep(delay)
                attempt += 1
            }
        }
    }

    /// The delay before the next attempt, or throws `failure` when it must not be retried.
    func retryDelay(
        for failure: GigaChatError,
        attempt: Int,
        deadline: NIODeadline,
        what: @autoclosure () -> String
    ) throws -> Duration {
        let statusAllowed = failure.httpStatus.map { self.configuration.retry.retryOnStatusCodes.contains($0) } ?? true
        guard failure.isRetriable, statusAllowed, attempt < self.configuration.retry.maxRetries else { throw failure }
        let delay = self.retryPolicy.delay(attempt: attempt, retryAfter: failure.retryAfter)
        guard NIODeadline.now() + TimeAmount(delay) < deadline else { throw failure }
        self.logger.warning(
            "GigaChat call failed, retrying",
            metadata: [
                "gigachat.call": "\(what())", "gigachat.error": "\(failure.code)",
                "gigachat.http_status": "\(failure.httpStatus.map(String.init) ?? "-")",
                "gigachat.attempt": "\(attempt + 1)", "gigachat.delay_ms": "\(Int(delay.seconds * 1000))",
            ]
        )
        return delay
    }

    static func sleep(_ delay: Duration) async throws {
        do {
            try await Task.sleep(for: delay)
        } catch {
            throw GigaChatError(code: .cancelled, message: "cancelled while waiting to retry")
        }
    }

    /// Runs `operation` with a usable token; after a 401 it drops that token and tries once more with a new one.
    ///
    /// Waiting for a token is bounded by ``GigaChatConfiguration/Timeouts/token`` and by `deadline`, and ends at
    /// once when the task is cancelled.
    func withAuthorization<T>(
        deadline: NIODeadline = .distantFuture,
        _ operation: (String) async throws -> T
    ) async throws -> T {
        let fetch: GigaChatTokenProvider.Fetch = { [self] source in try await self.requestToken(from: source) }
        var wait = self.configuration.timeouts.token
        if deadline != .distantFuture {
            let remaining = Duration.nanoseconds((deadline - .now()).nanoseconds)
            wait = max(.zero, min(wait, remaining))
        }
        let token: GigaChatAccessToken
        do {
            // Most calls: the token as it is, without a turn on the provider's actor.
            if let usable = self.tokenProvider.usableToken() {
                token = usable
            } else {
                token = try await self.tokenProvider.token(timeout: wait, fetch: fetch)
            }
        } catch let error as GigaChatError where error.code == .timeout && wait < self.configuration.timeouts.token {
            // The call's own deadline ended the wait (a slow token endpoint under load): that is the deadline, which
            // no retry can help, not the token endpoint's timeout.
            throw GigaChatError(
                code: .timeout,
                message: "the call's deadline passed while waiting for an access token",
                isRetriable: false
            )
        }
        do {
            return try await operation(token.value)
        } catch let error as GigaChatError where error.httpStatus == 401 {
            await self.tokenProvider.invalidate(token)
            guard self.tokenProvider.canRefresh else { throw error }
            self.logger.info("GigaChat rejected the access token (401); renewing it and retrying once")
            let fresh = try await self.tokenProvider.token(timeout: wait, fetch: fetch)
            return try await operation(fresh.value)
        }
    }

    /// One JSON call: retries, authorization, status check, decoding.
    func callJSON<T: Decodable>(
        _ method: HTTPMethod,
        _ path: String,
        root: String? = nil,
        body: ByteBuffer? = nil,
        contentType: String = "application/json",
        headers: GigaChatRequestHeaders = .init(),
        deadline: Duration? = nil,
        retried: Bool = true,
        as type: T.Type
    ) async throws -> (T, HTTPHeaders) {
        let deadline = self.deadline(deadline)
        return try await self.withRetries("\(method.rawValue) \(path)", deadline: deadline, enabled: retried) {
            try await self.withAuthorization(deadline: deadline) { token in
                var fields = self.requestHeaders(token: token, headers: headers, accept: "application/json")
                if body != nil { fields.replaceOrAdd(name: "Content-Type", value: contentType) }
                let response = try await self.send(
                    method,
                    root: root ?? self.baseURL,
                    path: path,
                    headers: fields,
                    body: body,
                    deadline: deadline
                )
                if let error = self.statusError(of: response, secrets: [token]) { throw error }
                let bytes = response.body
                self.logger.debug(
                    "GigaChat call answered",
                    metadata: [
                        "gigachat.call": "\(method.rawValue) \(path)",
                        "gigachat.http_status": "\(response.head.status.code)",
                        "gigachat.x_request_id": "\(response.head.headers.first(name: "x-request-id") ?? "-")",
                    ]
                )
                do {
                    if let fast = T.self as? any FastJSONDecodable.Type {
                        let value = try bytes.withUnsafeReadableBytes { try fast.init(json: $0) }
                        return (value as! T, response.head.headers)
                    }
                    return (
                        try JSONDecoder().decode(T.self, from: Data(bytes.readableBytesView)), response.head.headers
                    )
                } catch {
                    throw GigaChatError(
                        code: .decoding,
                        message: "cannot decode the answer of \(method.rawValue) \(path)",
                        httpStatus: Int(response.head.status.code),
                        requestID: response.head.headers.first(name: "x-request-id"),
                        underlying: "\(error)"
                    )
                }
            }
        }
    }

    /// A chat request body in the shape of its API (``ChatRequest/api``, resolved by `prepared`), written directly.
    static func encodeRequest(_ request: ChatRequest) throws -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try request.api == .v2 ? request.v2JSONBytes() : request.jsonBytes())
        } catch let error as GigaChatError {
            throw error
        } catch {
            throw GigaChatError(code: .badRequest, message: "cannot encode the request", underlying: "\(error)")
        }
    }

    static func encode(_ value: some Encodable) throws -> ByteBuffer {
        do {
            return ByteBuffer(bytes: try JSONEncoder().encode(value))
        } catch {
            throw GigaChatError(code: .badRequest, message: "cannot encode the request", underlying: "\(error)")
        }
    }
}
