import NIOCore
import NIOHTTP1

/// The answer of a call read whole: its head and its body.
struct CollectedResponse: Sendable {
    var head: HTTPResponseHead
    var body: ByteBuffer
}

/// Receives an answer whole (the direct transport's plain calls); ``answered`` completes with it.
///
/// - A 2xx body larger than `limit` ends the call with a ``GigaChatError/Code/decoding`` error.
/// - An error answer keeps its body as ``ErrorAnswerBody`` does, and is the call's answer even when its body does
///   not come whole: the status decides what the call's error is.
final class HTTP1BodyCollector: HTTP1ResponseReceiver, @unchecked Sendable {
    private let limit: Int
    private let promise: EventLoopPromise<CollectedResponse>
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()
    private var errorBody: ErrorAnswerBody?

    /// Completes with the answer, or fails with a ``GigaChatError``.
    var answered: EventLoopFuture<CollectedResponse> { self.promise.futureResult }

    init(limit: Int, eventLoop: any EventLoop) {
        self.limit = limit
        self.promise = eventLoop.makePromise()
    }

    func head(_ head: HTTPResponseHead) throws(GigaChatError) {
        self.head = head
        if !(200..<300).contains(head.status.code) { self.errorBody = ErrorAnswerBody() }
    }

    func body(_ part: ByteBuffer) throws(GigaChatError) {
        if self.errorBody != nil {
            self.errorBody!.append(part)
            return
        }
        guard self.body.readableBytes + part.readableBytes <= self.limit else {
            throw .answerTooLarge(limit: self.limit)
        }
        if self.body.readableBytes == 0 {
            self.body = part  // most answers come in one piece: no copy
        } else {
            var part = part
            self.body.writeBuffer(&part)
        }
    }

    func end() {
        guard let head else {
            self.promise.fail(GigaChatError(code: .transport, message: "the answer ended without a head"))
            return
        }
        self.promise.succeed(CollectedResponse(head: head, body: self.errorBody?.bytes ?? self.body))
    }

    func fail(_ error: GigaChatError) {
        if let head, let errorBody, error.code != .cancelled {
            // The error's body did not come whole: the status still decides.
            self.promise.succeed(CollectedResponse(head: head, body: errorBody.bytes))
        } else {
            self.promise.fail(error)
        }
    }
}
