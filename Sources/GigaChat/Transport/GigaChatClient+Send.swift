import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

extension GigaChatClient {
    /// One HTTP exchange read whole (status, headers, body), through the direct transport, or through
    /// AsyncHTTPClient when a proxy is configured. A non-2xx answer is returned too (with at most 64 KiB of its
    /// body, kept even when the rest does not come); ``statusError(of:secrets:)`` maps it.
    /// - Parameters:
    ///   - root: The URL up to the path (``baseURL``, ``v2BaseURL`` or the OAuth URL).
    ///   - limit: The most bytes of a 2xx body (default ``GigaChatConfiguration/maxResponseBytes``).
    func send(
        _ method: HTTPMethod,
        root: String,
        path: String = "",
        headers: HTTPHeaders,
        body: ByteBuffer?,
        deadline: NIODeadline,
        limit: Int? = nil
    ) async throws -> CollectedResponse {
        let limit = limit ?? self.configuration.maxResponseBytes
        let url = root + path
        guard let pool = self.directPool, let (origin, target) = self.directTarget(root: root, path: path) else {
            return try await self.sendThroughAsyncHTTPClient(
                method,
                url: url,
                headers: headers,
                body: body,
                deadline: deadline,
                limit: limit
            )
        }
        let request = HTTP1Request(method: method, target: target, headers: headers, body: body)
        do {
            let response = try await Self.exchange(
                request,
                origin: origin,
                pool: pool,
                idleTimeout: TimeAmount(self.configuration.timeouts.idle),
                deadline: deadline,
                limit: limit
            )
            GigaChatRequestMetrics.shared.record(url: url, status: Int(response.head.status.code))
            return response
        } catch {
            GigaChatRequestMetrics.shared.record(url: url, status: nil)
            throw error
        }
    }

    /// The error of a non-2xx answer (its message scrubbed of secrets); `nil` for a 2xx.
    func statusError(of response: CollectedResponse, secrets extra: [String] = []) -> GigaChatError? {
        let status = Int(response.head.status.code)
        guard !(200..<300).contains(status) else { return nil }
        var error = GigaChatError.fromResponse(status: status, headers: response.head.headers, body: response.body)
        error.message = self.scrub(error.message, extra: extra)
        return error
    }

    /// The origin and target of `root + path` for the direct transport: worked out once for the two API roots.
    func directTarget(root: String, path: String) -> (HTTP1Origin, String)? {
        // The API roots are split once (`nil`: a URL the transport does not serve, not split again per call).
        if root == self.baseURL { return self.directBase.map { ($0.0, $0.1 + path) } }
        if root == self.v2BaseURL { return self.directV2Base.map { ($0.0, $0.1 + path) } }
        return HTTP1Origin.split(root + path)
    }

    /// Runs one exchange on the direct transport and reads its answer whole; cancelling the task cancels it.
    static func exchange(
        _ request: HTTP1Request,
        origin: HTTP1Origin,
        pool: HTTP1ConnectionPool,
        idleTimeout: TimeAmount,
        deadline: NIODeadline,
        limit: Int
    ) async throws -> CollectedResponse {
        let collector = HTTP1BodyCollector(limit: limit, eventLoop: pool.anyEventLoop)
        return try await Self.run(
            request,
            to: origin,
            on: pool,
            receiver: collector,
            idleTimeout: idleTimeout,
            deadline: deadline,
            answered: collector.answered
        )
    }

    /// Runs one exchange on the direct transport until `answered` (the receiver's) completes; cancelling the task
    /// cancels the exchange. Its headers are checked first, as AsyncHTTPClient checks them.
    static func run<Answer: Sendable>(
        _ request: HTTP1Request,
        to origin: HTTP1Origin,
        on pool: HTTP1ConnectionPool,
        receiver: any HTTP1ResponseReceiver,
        idleTimeout: TimeAmount?,
        deadline: NIODeadline,
        answered: EventLoopFuture<Answer>
    ) async throws -> Answer {
        do {
            try Self.checkHeaders(request.headers)
        } catch {
            receiver.fail(error)  // its answer is complete, refused
            throw error
        }
        let cancellation = ExchangeCancellation(pool: pool)
        return try await withTaskCancellationHandler {
            cancellation.started(
                pool.execute(request, to: origin, receiver: receiver, idleTimeout: idleTimeout, deadline: deadline)
            )
            return try await answered.get()
        } onCancel: {
            cancellation.cancel()
        }
    }

    /// Refuses what AsyncHTTPClient refuses: header names that are not tokens, and values with control characters
    /// (but tab), which could break the request's framing or add headers of their own.
    static func checkHeaders(_ headers: HTTPHeaders) throws(GigaChatError) {
        for (name, value) in headers {
            var name = name
            let validName = name.withUTF8 { bytes in !bytes.isEmpty && bytes.allSatisfy(Self.isTokenByte) }
            guard validName else {
                throw GigaChatError(code: .badRequest, message: "a header name is not a valid token")
            }
            var value = value
            guard !value.withUTF8(Self.holdsControlCharacter) else {
                throw GigaChatError(code: .badRequest, message: "the value of header \(name) holds a control character")
            }
        }
    }

    /// Whether `bytes` hold a control character other than tab (below 0x20, or 0x7F). Eight bytes at a time: the
    /// bearer token makes most of every call's header bytes (issue 17: checking them a byte at a time cost 4,700
    /// instructions a call). A word that may hold one (the bit trick can also mark the bytes after a real one, and
    /// tab is one it marks) is read byte by byte, and so is the rest.
    static func holdsControlCharacter(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let raw = UnsafeRawBufferPointer(bytes)
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        while index + 8 <= raw.count {
            let word = raw.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            let delete = word ^ (ones &* 0x7F)
            let marks = ((word &- ones &* 0x20) & ~word) | ((delete &- ones) & ~delete)
            if marks & highs != 0 { break }
            index += 8
        }
        while index < raw.count {
            let byte = raw[index]
            if (byte < 0x20 && byte != UInt8(ascii: "\t")) || byte == 0x7F { return true }
            index += 1
        }
        return false
    }

    /// RFC 9110's `tchar`.
    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    private func sendThroughAsyncHTTPClient(
        _ method: HTTPMethod,
        url: String,
        headers: HTTPHeaders,
        body: ByteBuffer?,
        deadline: NIODeadline,
        limit: Int
    ) async throws -> CollectedResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        if let body { request.body = .bytes(body) }
        let response = try await self.execute(request, deadline: deadline)
        guard (200..<300).contains(response.status.code) else {
            return await self.errorAnswer(response, deadline: deadline)
        }
        let head = HTTPResponseHead(version: response.version, status: response.status, headers: response.headers)
        return CollectedResponse(head: head, body: try await self.collect(response, deadline: deadline, limit: limit))
    }

    /// An error answer of AsyncHTTPClient with its body, read within the idle timeout (a server that sends an error
    /// head and then stalls cannot hold the call): the status decides even without the body.
    func errorAnswer(_ response: HTTPClientResponse, deadline: NIODeadline) async -> CollectedResponse {
        let head = HTTPResponseHead(version: response.version, status: response.status, headers: response.headers)
        let bodyDeadline = min(deadline, .now() + TimeAmount(self.configuration.timeouts.idle))
        let body = try? await self.collect(response, deadline: bodyDeadline, limit: ErrorAnswerBody.limit)
        return CollectedResponse(head: head, body: body ?? ByteBuffer())
    }
}

/// Cancels a direct exchange once it exists: the task may be cancelled before the exchange was made.
final class ExchangeCancellation: Sendable {
    private let pool: HTTP1ConnectionPool
    private let state = Mutex<(exchange: HTTP1Exchange?, cancelled: Bool)>((nil, false))

    init(pool: HTTP1ConnectionPool) {
        self.pool = pool
    }

    func started(_ exchange: HTTP1Exchange) {
        let cancelled = self.state.withLock { state in
            state.exchange = exchange
            return state.cancelled
        }
        if cancelled { self.pool.cancel(exchange) }
    }

    func cancel() {
        let exchange = self.state.withLock { state in
            state.cancelled = true
            return state.exchange
        }
        if let exchange { self.pool.cancel(exchange) }
    }
}
