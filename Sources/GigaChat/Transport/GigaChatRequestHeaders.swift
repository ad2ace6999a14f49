/// Optional tracing headers of one call. GigaChat logs them; a stable session id improves prefix-cache hits.
public struct GigaChatRequestHeaders: Sendable, Hashable {
    /// `X-Request-ID` (e.g. the job id).
    public var requestID: String?
    /// `X-Session-ID` (stable per conversation).
    public var sessionID: String?
    /// `X-Client-ID`.
    public var clientID: String?
    /// Any other headers (`X-Trace-ID`, ...). `Authorization` is ignored here.
    public var additional: [String: String]

    /// Creates headers.
    public init(
        requestID: String? = nil,
        sessionID: String? = nil,
        clientID: String? = nil,
        additional: [String: String] = [:]
    ) {
        self.requestID = requestID
        self.sessionID = sessionID
        self.clientID = clientID
        self.additional = additional
    }
}
