import AsyncHTTPClient
import Foundation
import NIOCore

/// A streamed chat answer: an `AsyncSequence` of ``ChatChunk``s, ending after `data: [DONE]` (v1) or the
/// `response.message.done` event (v2, whose events are mapped onto ``ChatChunk``s, see ``GigaChatAPI``).
///
/// Iterating starts the call. Failures before the first chunk is delivered are retried (see
/// ``GigaChatClient/stream(_:headers:deadline:)``); after that they are thrown. A body that ends without
/// `[DONE]` (or, on v2, its done event) throws ``GigaChatError/Code/streamCut``. Each iteration makes a new call.
public struct ChatStream: AsyncSequence, Sendable {
    /// A chunk of the answer.
    public typealias Element = ChatChunk

    let client: GigaChatClient
    let request: ChatRequest
    let headers: GigaChatRequestHeaders
    let deadline: Duration?

    /// Starts the call and returns the iterator.
    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(stream: self)
    }

    /// Iterates the chunks of one call.
    public struct AsyncIterator: AsyncIteratorProtocol {
        private let stream: ChatStream
        private var body: ResponseBodyReader?
        private var requestID: String?
        private var parser = SSEParser()
        private var pending: [ChatChunk] = []
        private var pendingIndex = 0
        private var delivered = false
        private var finished = false
        private var attempt = 0
        private var deadline: NIODeadline?
        private var encodedBody: ByteBuffer?

        /// The API the call uses (resolved when the stream was made).
        private var api: GigaChatAPI { self.stream.request.api ?? .v1 }

        init(stream: ChatStream) {
            self.stream = stream
        }

        /// The next chunk, or `nil` after `[DONE]`.
        /// - Throws: ``GigaChatError``.
        public mutating func next() async throws -> ChatChunk? {
            while true {
                if self.pendingIndex < self.pending.count {
                    let chunk = self.pending[self.pendingIndex]
                    self.pendingIndex += 1
                    self.delivered = true
                    return chunk
                }
                if self.finished {
                    // The chunk with finish_reason and usage went out first; only now read what follows [DONE].
                    if self.body != nil { await self.drain() }
                    return nil
                }
                do {
                    try await self.fill()
                } catch {
                    var failure = GigaChatError.wrapping(error)
                    guard !self.delivered else {
                        // Not retried here: the caller already has some deltas and a new call would repeat them.
                        self.finished = true
                        self.body = nil
                        failure.message += " (after output was delivered; not retried by the client)"
                        throw failure
                    }
                    // Nothing reached the caller yet: a retry cannot duplicate output.
                    let delay: Duration
                    do {
                        delay = try self.stream.client.retryDelay(
                            for: failure,
                            attempt: self.attempt,
                            deadline: self.deadline ?? .distantFuture,
                            what: "stream /chat/completions"
                        )
                    } catch {
                        self.finished = true
                        self.body = nil
                        throw error
                    }
                    self.reset()
                    try await GigaChatClient.sleep(delay)
                    self.attempt += 1
                }
            }
        }

        private mutating func reset() {
            self.body = nil
            self.parser = SSEParser()
            self.pending.removeAll()
            self.pendingIndex = 0
        }

        /// Reads until at least one chunk is pending or the stream ended.
        private mutating func fill() async throws {
            let client = self.stream.client
            if self.body == nil {
                if self.deadline == nil { self.deadline = client.deadline(self.stream.deadline) }
                if self.encodedBody == nil { self.encodedBody = try GigaChatClient.encodeRequest(self.stream.request) }
                let response = try await client.openStream(
                    body: self.encodedBody!,
                    api: self.api,
                    headers: self.stream.headers,
                    deadline: self.deadline!
                )
                self.requestID = response.headers.first(name: "x-request-id")
                client.logger.debug(
                    "GigaChat stream opened",
                    metadata: [
                        "gigachat.x_request_id": "\(self.requestID ?? "-")", "gigachat.attempt": "\(self.attempt)",
                    ]
                )
                self.body = ResponseBodyReader(
                    response.body,
                    deadline: self.deadline!,
                    eventLoop: client.httpClient.eventLoopGroup.any()
                )
            }
            self.pending.removeAll(keepingCapacity: true)
            self.pendingIndex = 0
            while self.pending.isEmpty && !self.finished {
                let buffer: ByteBuffer?
                do {
                    buffer = try await self.body!.next()
                } catch {
                    let failure = GigaChatError.wrapping(error)
                    if failure.code == .transport {
                        throw GigaChatError(
                            code: .streamCut,
                            message: "the stream broke before [DONE]",
                            requestID: self.requestID,
                            underlying: failure.underlying
                        )
                    }
                    throw failure
                }
                var events: [SSEEvent] = []
                if let buffer {
                    self.parser.parse(buffer) { events.append($0) }
                } else {
                    self.parser.finish { events.append($0) }
                }
                if self.parser.overflowed {
                    throw GigaChatError(
                        code: .decoding,
                        message: "a stream event is larger than \(SSEParser.defaultMaximumEventBytes) bytes",
                        requestID: self.requestID
                    )
                }
                for event in events {
                    switch event {
                    case .done:
                        self.finished = true
                    case .data(let bytes) where self.api == .v1, .named(_, let bytes) where self.api == .v1:
                        guard !self.finished, !bytes.isEmpty else { continue }
                        try self.decode(bytes)
                    case .named(let name, let bytes):
                        // v2: every named event carries a chunk; the done event is the last (no `[DONE]` follows).
                        guard !self.finished else { continue }
                        if !bytes.isEmpty { try self.decode(bytes) }
                        if name == "response.message.done" { self.finished = true }
                    case .data:
                        continue  // v2 events are named; an unnamed one is not part of the answer (the SDK skips it)
                    }
                }
                if buffer == nil && !self.finished {
                    throw GigaChatError(
                        code: .streamCut,
                        message: self.api == .v1
                            ? "the stream ended without [DONE]"
                            : "the stream ended without its response.message.done event",
                        requestID: self.requestID
                    )
                }
            }
        }

        /// Reads what follows `[DONE]` (normally just the end of the body) so the connection goes back to the
        /// pool instead of being closed; gives up after a few reads.
        private mutating func drain() async {
            var reads = 0
            while reads < 16, (try? await self.body?.next()) != nil {
                reads += 1
            }
            self.body = nil
        }

        private mutating func decode(_ bytes: [UInt8]) throws {
            do {
                var chunk = self.api == .v1 ? try ChatChunk(json: bytes) : try ChatChunk(v2: bytes)
                chunk.xRequestID = self.requestID
                self.pending.append(chunk)
            } catch {
                throw GigaChatError(
                    code: .decoding,
                    message: "cannot decode a stream event",
                    requestID: self.requestID,
                    underlying: "\(error)"
                )
            }
        }
    }
}
