import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

extension GigaChatClient {
    /// Sends a chat request and waits for the whole answer (`stream: false`).
    ///
    /// The request's ``ChatRequest/api`` (default ``GigaChatConfiguration/api``) picks the API; a v2 answer is
    /// mapped onto the same ``ChatResponse`` (see ``GigaChatAPI``).
    /// - Parameters:
    ///   - request: The request; `model`, `profanity_check` and `flags` default from the configuration.
    ///   - headers: Tracing headers (`X-Request-ID`, `X-Session-ID`, `X-Client-ID`).
    ///   - deadline: A deadline for the whole call including retries; default: the configured one (none).
    /// - Returns: The answer, with the model as answered, finish reason, usage and `X-Request-Id`.
    /// - Throws: ``GigaChatError``.
    public func chat(
        _ request: ChatRequest,
        headers: GigaChatRequestHeaders = .init(),
        deadline: Duration? = nil
    ) async throws -> ChatResponse {
        let request = self.prepared(request, stream: false)
        let body = try Self.encodeRequest(request)
        var response: ChatResponse
        let responseHeaders: HTTPHeaders
        switch request.api ?? .v1 {
        case .v1:
            (response, responseHeaders) = try await self.callJSON(
                .POST,
                "/chat/completions",
                body: body,
                headers: headers,
                deadline: deadline,
                as: ChatResponse.self
            )
        case .v2:
            let answer: V2ChatResponse
            (answer, responseHeaders) = try await self.callJSON(
                .POST,
                "/chat/completions",
                root: self.v2BaseURL,
                body: body,
                headers: headers,
                deadline: deadline,
                as: V2ChatResponse.self
            )
            response = answer.response
        }
        response.xRequestID = responseHeaders.first(name: "x-request-id")
        response.xSessionID = responseHeaders.first(name: "x-session-id")
        return response
    }

    /// Streams a chat answer (`stream: true`, server-sent events) as ``ChatChunk``s.
    ///
    /// Nothing is sent until the stream is iterated. Failures before the first chunk reaches the caller
    /// (429, 5xx, connection errors, a cut stream) are retried per the policy; a cut after output was
    /// delivered is thrown as ``GigaChatError/Code/streamCut`` and never retried here, because a retry would
    /// repeat deltas the caller already has (the caller may restart the answer as a new attempt).
    /// - Parameters:
    ///   - request: The request; `model`, `profanity_check` and `flags` default from the configuration.
    ///   - headers: Tracing headers.
    ///   - deadline: A deadline for the whole stream; default: the configured one (none).
    public func stream(
        _ request: ChatRequest,
        headers: GigaChatRequestHeaders = .init(),
        deadline: Duration? = nil
    ) -> ChatStream {
        ChatStream(client: self, request: self.prepared(request, stream: true), headers: headers, deadline: deadline)
    }

    /// Streams a chat answer, handing each ``ChatChunk`` to `onChunk` as soon as its event arrived; returns once the
    /// answer ended (`[DONE]`, or v2's done event).
    ///
    /// The cheap way to read a stream: the events are parsed where the bytes arrive, on the connection's event loop,
    /// and `onChunk` is called there, in order, so nothing switches tasks per event. `onChunk` must therefore be
    /// quick and must never block or wait. ``stream(_:headers:deadline:)`` gives the same chunks as an
    /// `AsyncSequence`.
    ///
    /// Retries as the `AsyncSequence` does: failures before the first chunk reached `onChunk` (429, 5xx, connection
    /// errors, a cut stream) are retried per the policy; a failure after that is thrown, marked as coming after
    /// output, because a new call would repeat deltas the caller already has.
    /// - Parameters:
    ///   - request: The request; `model`, `profanity_check` and `flags` default from the configuration.
    ///   - headers: Tracing headers.
    ///   - deadline: A deadline for the whole stream including retries; default: the configured one (none).
    ///   - onChunk: Called with each chunk, on an event-loop thread.
    /// - Throws: ``GigaChatError``; ``GigaChatError/Code/cancelled`` when the calling task is cancelled.
    public func stream(
        _ request: ChatRequest,
        headers: GigaChatRequestHeaders = .init(),
        deadline: Duration? = nil,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) async throws {
        let request = self.prepared(request, stream: true)
        let api = request.api ?? .v1
        let body = try Self.encodeRequest(request)
        let deadline = self.deadline(deadline)
        var attempt = 0
        while true {
            let delivery = DeliveryMark()
            do {
                try await self.withAuthorization(deadline: deadline) { token in
                    try await self.readStream(body: body, api: api, token: token, headers: headers, deadline: deadline)
                    {
                        delivery.mark()
                        onChunk($0)
                    }
                }
                return
            } catch {
                var failure = GigaChatError.wrapping(error)
                if delivery.isMarked {
                    failure.markAfterOutput()
                    throw failure
                }
                let delay = try self.retryDelay(
                    for: failure,
                    attempt: attempt,
                    deadline: deadline,
                    what: "stream /chat/completions"
                )
                try await Self.sleep(delay)
                attempt += 1
            }
        }
    }

    /// One streamed call read by a ``ChatStreamReceiver``; returns when the answer ended.
    private func readStream(
        body: ByteBuffer,
        api: GigaChatAPI,
        token: String,
        headers: GigaChatRequestHeaders,
        deadline: NIODeadline,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) async throws {
        let root = self.root(for: api)
        let path = "/chat/completions"
        let fields = self.streamRequestHeaders(token: token, headers: headers)
        let idleTimeout = TimeAmount(self.configuration.timeouts.idle)
        let direct = self.directPool.flatMap { pool in self.directTarget(root: root, path: path).map { (pool, $0) } }
        let streaming = self.streamingHTTPClient ?? self.httpClient  // (made whenever a stream may not go direct)
        // The receiver's answer completes on the loop its bytes arrive on, when that can be known. With
        // AsyncHTTPClient the delegate's loop: the pool prefers an idle connection on it (then no hop per piece of
        // the body) but takes any. (`.delegateAndChannel` would insist, and open a connection of its own beyond the
        // pool's limit whenever the idle ones are on the other loop.)
        let loop = direct?.0.anyEventLoop ?? streaming.eventLoopGroup.next()
        let receiver = ChatStreamReceiver(
            api: api,
            url: root + path,
            eventLoop: loop,
            statusError: { [self] in self.statusError(of: $0, secrets: [token]) },
            onChunk: onChunk
        )
        if let (pool, (origin, target)) = direct {
            try await Self.run(
                HTTP1Request(method: .POST, target: target, headers: fields, body: body),
                to: origin,
                on: pool,
                receiver: receiver,
                idleTimeout: idleTimeout,
                deadline: deadline,
                answered: receiver.answered
            )
            return
        }
        var request: HTTPClient.Request
        do {
            request = try HTTPClient.Request(url: root + path, method: .POST)
        } catch {
            throw GigaChatError.wrapping(error)
        }
        request.headers = fields
        request.body = .byteBuffer(body)
        let delegate = ChatStreamDelegate(receiver: receiver, idleTimeout: idleTimeout)
        let task = streaming.execute(
            request: request,
            delegate: delegate,
            eventLoop: .delegate(on: loop),
            deadline: deadline == .distantFuture ? nil : deadline
        )
        task.futureResult.whenComplete { delegate.taskEnded($0) }
        loop.execute { delegate.watchIdle(task) }
        try await withTaskCancellationHandler {
            try await receiver.answered.get()
        } onCancel: {
            task.cancel()
        }
    }

    func prepared(_ request: ChatRequest, stream: Bool) -> ChatRequest {
        var request = request
        request.stream = stream
        if request.model == nil { request.model = self.configuration.model }
        if request.profanityCheck == nil { request.profanityCheck = self.configuration.profanityCheck }
        if request.flags == nil { request.flags = self.configuration.flags }
        if request.api == nil { request.api = self.configuration.api }
        return request
    }

    /// Opens a streamed chat call: authorization (with one renewal after 401), status and content type checked.
    func openStream(
        body: ByteBuffer,
        api: GigaChatAPI,
        headers: GigaChatRequestHeaders,
        deadline: NIODeadline
    ) async throws -> HTTPClientResponse {
        try await self.withAuthorization(deadline: deadline) { token in
            var request = HTTPClientRequest(url: self.root(for: api) + "/chat/completions")
            request.method = .POST
            request.headers = self.streamRequestHeaders(token: token, headers: headers)
            request.body = .bytes(body)
            let response = try await self.execute(request, deadline: deadline)
            try await self.checkStatus(response, deadline: deadline, secrets: [token])
            if let error = ChatEventDecoder.notAnEventStream(
                contentType: response.headers.first(name: "content-type"),
                status: Int(response.status.code),
                requestID: response.headers.first(name: "x-request-id")
            ) {
                throw error
            }
            return response
        }
    }

    /// The headers of a streamed chat call (both ways of reading one).
    private func streamRequestHeaders(token: String, headers: GigaChatRequestHeaders) -> HTTPHeaders {
        var fields = self.requestHeaders(token: token, headers: headers, accept: "text/event-stream")
        fields.replaceOrAdd(name: "Content-Type", value: "application/json")
        fields.replaceOrAdd(name: "Cache-Control", value: "no-store")
        return fields
    }
}

/// Whether a call handed any chunk to its caller (set on an event loop, read by the calling task).
private final class DeliveryMark: Sendable {
    private let value = Atomic(false)
    var isMarked: Bool { self.value.load(ordering: .acquiring) }
    func mark() { self.value.store(true, ordering: .releasing) }
}
