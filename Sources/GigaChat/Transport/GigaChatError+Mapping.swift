import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

extension GigaChatError {
    /// The transports' failures, said the same way by both (the direct one and AsyncHTTPClient's mapping below).
    static let callCancelled = GigaChatError(code: .cancelled, message: "the call was cancelled")
    static let idleTimeout = GigaChatError(code: .timeout, message: "no data from the server within the idle timeout")
    /// A deadline is the caller's bound: no retry can help, so it is not retriable.
    static let deadlinePassed = GigaChatError(code: .timeout, message: "the call's deadline passed", isRetriable: false)
    static let clientShutDown = GigaChatError(code: .configuration, message: "the client has been shut down")

    /// Says that a stream's failure came after output reached the caller (which is why the client does not retry it).
    mutating func markAfterOutput() {
        self.message += " (after output was delivered; not retried by the client)"
    }

    static func answerTooLarge(limit: Int) -> GigaChatError {
        GigaChatError(code: .decoding, message: "the answer is larger than \(limit) bytes")
    }

    static func connectTimeout(_ underlying: Any) -> GigaChatError {
        GigaChatError(code: .timeout, message: "connecting timed out", underlying: "\(underlying)")
    }

    /// Maps any error to a ``GigaChatError`` (transport, timeout, TLS, cancellation).
    static func wrapping(_ error: any Error) -> GigaChatError {
        if let error = error as? GigaChatError { return error }
        if error is CancellationError { return .callCancelled }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .socksHandshakeTimeout, .httpProxyHandshakeTimeout, .tlsHandshakeTimeout:
                return .connectTimeout(error)
            case .readTimeout:
                return .idleTimeout
            case .deadlineExceeded:
                return .deadlinePassed
            case .cancelled:
                return .callCancelled
            case .proxyAuthenticationRequired:
                return GigaChatError(code: .configuration, message: "the proxy requires (other) credentials")
            case .invalidURL, .emptyHost, .emptyScheme:
                return GigaChatError(code: .configuration, message: "invalid URL", underlying: "\(error)")
            case .alreadyShutdown:
                return .clientShutDown
            default:
                return GigaChatError(code: .transport, message: "the connection failed", underlying: "\(error)")
            }
        }
        if error is NIOTooManyBytesError {
            return GigaChatError(code: .decoding, message: "the answer is larger than the configured limit")
        }
        if error is NIOSSLError || error is BoringSSLError || error is NIOSSLExtraError {
            return GigaChatError(
                code: .tls,
                message: "TLS handshake failed (untrusted or invalid server certificate?)",
                underlying: "\(error)"
            )
        }
        return GigaChatError(code: .transport, message: "the connection failed", underlying: "\(error)")
    }

    /// The error of a non-2xx answer: code from the status, message from `{"status","message"}` or the
    /// OAuth `{"code","message"}` body, `Retry-After` and `X-Request-Id` from the headers.
    static func fromResponse(status: Int, headers: HTTPHeaders, body: ByteBuffer?) -> GigaChatError {
        var message = HTTPResponseStatus(statusCode: status).reasonPhrase
        if let body, body.readableBytes > 0 {
            let data = Data(body.readableBytesView)
            if let object = try? JSONDecoder().decode([String: JSONValue].self, from: data) {
                if let text = object["message"]?.stringValue ?? object["error_description"]?.stringValue
                    ?? object["error"]?.stringValue
                {
                    message = text
                }
                if let code = object["code"]?.intValue { message += " (code \(code))" }
            } else {
                let text = String(decoding: data.prefix(300), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                if !text.isEmpty { message = text }
            }
        }
        let retryAfter = headers.first(name: "retry-after").flatMap { RetryPolicy.parseRetryAfter($0) }
        return GigaChatError(
            code: Self.code(forStatus: status),
            message: message,
            httpStatus: status,
            retryAfter: retryAfter,
            requestID: headers.first(name: "x-request-id")
        )
    }
}
