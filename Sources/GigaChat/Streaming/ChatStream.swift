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
        private var decoder: ChatEventDecoder?
        private var pending: [ChatChunk] = []
        private var pendingIndex = 0
        private var delivered = false
        /// An error was thrown: the iteration is over.
        private var failed = false
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
                if self.failed { return nil }
                if self.decoder?.finished == true {
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
                        self.body = nil
                        self.decoder = nil
                        self.failed = true
                        failure.markAfterOutput()
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
                        self.body = nil
                        self.decoder = nil
                        self.failed = true
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
            self.decoder = nil
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
                let requestID = response.headers.first(name: "x-request-id")
                client.logger.debug(
                    "GigaChat stream opened",
                    metadata: ["gigachat.x_request_id": "\(requestID ?? "-")", "gigachat.attempt": "\(self.attempt)"]
                )
                self.decoder = ChatEventDecoder(api: self.api, requestID: requestID)
                self.body = ResponseBodyReader(
                    response.body,
                    deadline: self.deadline!,
                    eventLoop: client.httpClient.eventLoopGroup.any()
                )
            }
            self.pending.removeAll(keepingCapacity: true)
            self.pendingIndex = 0
            while self.pending.isEmpty && !self.decoder!.finished {
                let buffer: ByteBuffer?
                do {
                    buffer = try await self.body!.next()
                } catch {
                    throw self.decoder!.cut(by: GigaChatError.wrapping(error))
                }
                if let buffer {
                    try self.decoder!.read(buffer) { self.pending.append($0) }
                } else {
                    try self.decoder!.end { self.pending.append($0) }
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
    }
}
