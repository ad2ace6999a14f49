import GigaChat
import WireFormat

/// What to do with a failed attempt: retry it as a new attempt, or end the job with a failed completion.
///
/// Transient: 429, 5xx, connection failures and idle timeouts, a stream cut (also after output: the new attempt
/// restarts its partials at `seq` 0), a 200 that was not an event stream. Permanent: 400, 404, 413, 422, an
/// answer that cannot be decoded, TLS and configuration errors. Account faults (401 after the token was renewed,
/// 402 tokens used up, 403) are retried with a long backoff rather than failing jobs one by one: they are not the
/// job's fault.
public enum FailurePolicy {
    /// The decision for one failure.
    public enum Decision: Sendable, Hashable {
        /// Try again after the backoff (and at least `retryAfter`, when the server asked).
        case retry(retryAfter: Duration?)
        /// Retry, but the fault is the account's (no attempt is counted against the job).
        case accountFault(retryAfter: Duration?)
        /// End the job with this failure.
        case fail(CompletionRecord.Failure)
    }

    /// Classifies a GigaChat error.
    public static func decide(_ error: GigaChatError) -> Decision {
        switch error.code {
        case .rateLimited, .server, .transport, .streamCut:
            return .retry(retryAfter: error.retryAfter)
        case .timeout where error.isRetriable:
            return .retry(retryAfter: nil)
        case .unexpectedStatus where error.isRetriable:
            return .retry(retryAfter: nil)
        case .paymentRequired, .forbidden, .unauthorized:
            return .accountFault(retryAfter: error.retryAfter)
        default:
            return .fail(failure(for: error))
        }
    }

    /// The completion's error for a GigaChat error: a stable snake_case code, the message, the HTTP status.
    public static func failure(for error: GigaChatError) -> CompletionRecord.Failure {
        CompletionRecord.Failure(code: code(for: error.code), message: error.message, httpStatus: error.httpStatus)
    }

    static func code(for code: GigaChatError.Code) -> CompletionRecord.Failure.Code {
        switch code {
        case .badRequest: .badRequest
        case .unauthorized: .unauthorized
        case .paymentRequired: .paymentRequired
        case .forbidden: .forbidden
        case .notFound: .notFound
        case .payloadTooLarge: .payloadTooLarge
        case .unprocessable: .unprocessable
        case .rateLimited: .rateLimited
        case .server: .serverError
        case .transport: .transport
        case .timeout: .timeout
        case .streamCut: .streamCut
        case .decoding: .decoding
        case .tls: .tls
        case .configuration: .configuration
        case .cancelled: .cancelled
        default: .unexpectedStatus
        }
    }

    /// The backoff before attempt `attempt + 1` (attempt counts from 1): full jitter over
    /// `min(maximum, initial * 2^(attempt-1))`, never less than the server's `Retry-After`.
    public static func backoff(
        attempt: Int,
        initial: Duration,
        maximum: Duration,
        retryAfter: Duration?,
        random: Double = Double.random(in: 0...1)
    ) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(maximum.secondsDouble, initial.secondsDouble * Double(1 << exponent))
        let jittered = Duration.milliseconds(Int64(ceiling * random * 1000))
        guard let retryAfter else { return jittered }
        return max(jittered, min(retryAfter, maximum))
    }
}
