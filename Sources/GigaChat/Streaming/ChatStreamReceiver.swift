import NIOCore
import NIOHTTP1

/// Reads one streamed chat answer where its bytes arrive, on the connection's event loop, and hands each chunk to
/// `onChunk` there: no task switch and no async-sequence hop per event (issue 17: those were most of a streamed
/// job's cost). The caller awaits only ``answered``, which completes once, when the answer's end marker is read or
/// the call fails.
///
/// Both transports feed it: the direct one (``HTTP1ConnectionPool``) calls it as an ``HTTP1ResponseReceiver``, and
/// AsyncHTTPClient (with a proxy) through ``ChatStreamDelegate``. Each keeps the idle timeout itself.
///
/// - A non-2xx head: its body (at most 64 KiB) is kept and mapped to the status's ``GigaChatError`` at the end,
///   also when reading that body fails (a stalled error body ends at the idle timeout and keeps its status, so a
///   401 still renews the token and a 422 is still not retried).
/// - A 2xx head that is not `text/event-stream`: a retriable failure, as the SDK treats it.
/// - After the end marker the rest of the body is still read (normally nothing), so the connection can be used
///   again; the caller does not wait for it.
///
/// `@unchecked Sendable`: the transport calls it on one event loop, one call at a time; ``fail(_:)`` may come from
/// another thread only before anything else was called.
final class ChatStreamReceiver: HTTP1ResponseReceiver, @unchecked Sendable {
    private let api: GigaChatAPI
    private let url: String
    private let onChunk: @Sendable (ChatChunk) -> Void
    private let statusError: @Sendable (CollectedResponse) -> GigaChatError?
    private let promise: EventLoopPromise<Void>
    private var decoder: ChatEventDecoder?
    private var errorHead: HTTPResponseHead?
    private var errorBody = ErrorAnswerBody()
    /// An answer's head came (and was counted in the request metrics).
    private var headCounted = false
    /// ``answered`` is complete.
    private(set) var completed = false

    /// Completes when the answer ended (its end marker read) or failed with a ``GigaChatError``.
    var answered: EventLoopFuture<Void> { self.promise.futureResult }

    /// - Parameters:
    ///   - eventLoop: Where ``answered`` completes.
    ///   - statusError: The error of an error answer (``GigaChatClient/statusError(of:secrets:)``).
    init(
        api: GigaChatAPI,
        url: String,
        eventLoop: any EventLoop,
        statusError: @escaping @Sendable (CollectedResponse) -> GigaChatError?,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) {
        self.api = api
        self.url = url
        self.onChunk = onChunk
        self.statusError = statusError
        self.promise = eventLoop.makePromise()
    }

    func head(_ head: HTTPResponseHead) throws(GigaChatError) {
        GigaChatRequestMetrics.shared.record(url: self.url, status: Int(head.status.code))
        self.headCounted = true
        let requestID = head.headers.first(name: "x-request-id")
        guard (200..<300).contains(head.status.code) else {
            self.errorHead = head
            return
        }
        if let error = ChatEventDecoder.notAnEventStream(
            contentType: head.headers.first(name: "content-type"),
            status: Int(head.status.code),
            requestID: requestID
        ) {
            throw error
        }
        self.decoder = ChatEventDecoder(api: self.api, requestID: requestID)
    }

    func body(_ buffer: ByteBuffer) throws(GigaChatError) {
        if self.errorHead != nil {
            self.errorBody.append(buffer)
            return
        }
        guard !self.completed, self.decoder != nil else { return }
        do {
            try self.decoder!.read(buffer) { self.onChunk($0) }
        } catch {
            throw GigaChatError.wrapping(error)
        }
        if self.decoder!.finished { self.complete(.success(())) }
    }

    func end() {
        if self.errorHead != nil {
            self.completeWithErrorStatus()
            return
        }
        guard !self.completed, self.decoder != nil else {
            self.complete(.failure(GigaChatError(code: .streamCut, message: "the call ended without an answer")))
            return
        }
        do {
            try self.decoder!.end { self.onChunk($0) }
            self.complete(.success(()))
        } catch {
            self.complete(.failure(GigaChatError.wrapping(error)))
        }
    }

    func fail(_ error: GigaChatError) {
        guard !self.completed else { return }
        if self.errorHead != nil, error.code != .cancelled {
            // The error's body did not come whole: the status still decides.
            self.completeWithErrorStatus()
            return
        }
        if !self.headCounted {
            GigaChatRequestMetrics.shared.record(url: self.url, status: nil)
        }
        // Once the answer had begun, a connection lost is a cut stream.
        self.complete(.failure(self.decoder?.cut(by: error) ?? error))
    }

    private func completeWithErrorStatus() {
        guard let head = self.errorHead else { return }
        let answer = CollectedResponse(head: head, body: self.errorBody.bytes)
        let error =
            self.statusError(answer)
            ?? GigaChatError(
                code: .unexpectedStatus,
                message: "HTTP \(head.status.code)",
                httpStatus: Int(head.status.code)
            )
        self.complete(.failure(error))
    }

    private func complete(_ result: Result<Void, GigaChatError>) {
        guard !self.completed else { return }
        self.completed = true
        switch result {
        case .success: self.promise.succeed(())
        case .failure(let error): self.promise.fail(error)
        }
    }
}
