import NIOCore

/// Turns the body of a streamed chat answer into ``ChatChunk``s, piece by piece as it arrives: the SSE framing
/// (``SSEParser``), each API's events and its end (v1: `data:` events ending with `[DONE]`; v2: named events ending
/// with `response.message.done`), and the size bound on an event.
///
/// Shared by both ways of reading a stream: ``ChatStream`` (an `AsyncSequence`) and
/// ``GigaChatClient/stream(_:headers:deadline:onChunk:)`` (a callback on the connection's event loop).
struct ChatEventDecoder {
    private var parser = SSEParser()
    private var events: Events

    /// The answer's `X-Request-Id`, copied into every chunk.
    var requestID: String? { self.events.requestID }
    /// Whether the answer's end marker was read; events after it are ignored.
    var finished: Bool { self.events.finished }

    init(api: GigaChatAPI, requestID: String?) {
        self.events = Events(api: api, requestID: requestID)
    }

    /// Decodes the events that `buffer` completes, handing each chunk to `emit` in order.
    /// - Throws: ``GigaChatError/Code/decoding`` for an event that is not a chunk or is too large.
    mutating func read(_ buffer: ByteBuffer, _ emit: (ChatChunk) throws -> Void) throws {
        var events = self.events
        defer { self.events = events }
        try self.parser.parseRaw(buffer) { try events.handle($0, emit) }
        try self.checkSize()
    }

    /// Ends the body: decodes what the last piece left.
    /// - Throws: ``GigaChatError/Code/streamCut`` when the answer's end marker never came.
    mutating func end(_ emit: (ChatChunk) throws -> Void) throws {
        var events = self.events
        defer { self.events = events }
        try self.parser.finishRaw { try events.handle($0, emit) }
        try self.checkSize()
        guard events.finished else {
            throw GigaChatError(
                code: .streamCut,
                message: events.api == .v1
                    ? "the stream ended without [DONE]"
                    : "the stream ended without its response.message.done event",
                requestID: self.requestID
            )
        }
    }

    /// The error of a connection lost after the answer began (a transport failure then is a cut stream); any
    /// other failure as it is.
    func cut(by failure: GigaChatError) -> GigaChatError {
        guard failure.code == .transport else { return failure }
        return GigaChatError(
            code: .streamCut,
            message: "the stream broke before [DONE]",
            requestID: self.requestID,
            underlying: failure.underlying
        )
    }

    /// Like the SDK: a 2xx answer that is not an event stream (a proxy page, a misrouted answer) is a transport
    /// failure and may be retried; `nil` when `contentType` is an event stream's.
    static func notAnEventStream(contentType: String?, status: Int, requestID: String?) -> GigaChatError? {
        let contentType = contentType ?? ""
        guard !contentType.lowercased().hasPrefix("text/event-stream") else { return nil }
        return GigaChatError(
            code: .unexpectedStatus,
            message: "expected Content-Type text/event-stream, got \(contentType.isEmpty ? "none" : contentType)",
            httpStatus: status,
            isRetriable: true,
            requestID: requestID
        )
    }

    private func checkSize() throws {
        guard self.parser.overflowed else { return }
        throw GigaChatError(
            code: .decoding,
            message: "a stream event is larger than \(SSEParser.defaultMaximumEventBytes) bytes",
            requestID: self.requestID
        )
    }
}

/// The events of one answer as its API defines them: which carry a chunk, and which ends the answer.
private struct Events {
    let api: GigaChatAPI
    let requestID: String?
    var finished = false

    mutating func handle(_ event: SSERawEvent, _ emit: (ChatChunk) throws -> Void) throws {
        guard !self.finished else { return }
        if event.isDone {
            self.finished = true
            return
        }
        switch self.api {
        case .v1:
            // v1 events are unnamed `data:` events (a named one is read the same way).
            if event.data.count > 0 { try emit(self.decode(event.data)) }
        case .v2:
            // Every named event carries a chunk; the done event is the last (no `[DONE]` follows). An unnamed event is
            // not part of the answer (the SDK skips it).
            guard event.name != nil else { return }
            if event.data.count > 0 { try emit(self.decode(event.data)) }
            if event.isNamed("response.message.done") { self.finished = true }
        }
    }

    private func decode(_ bytes: UnsafeRawBufferPointer) throws -> ChatChunk {
        do {
            return self.api == .v1
                ? try ChatChunk(json: bytes, requestID: self.requestID)
                : try ChatChunk(v2: bytes, requestID: self.requestID)
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
