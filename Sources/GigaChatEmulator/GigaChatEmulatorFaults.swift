/// Faults the emulator injects into chat completions (and OAuth), to test a client's retries and error handling.
///
/// Order of checks for an authorised, valid chat request: ``failFirst`` (deterministic, consumed one status per
/// call), then ``concurrencyLimitPerToken``, then the random rates (``rateLimitedRate``, then
/// ``internalErrorRate``, then ``unavailableRate``; one draw, so the rates add up). Stream faults
/// (``cutStreamAfterEvents``, ``malformedEventAt``) apply to every streamed answer while set.
public struct GigaChatEmulatorFaults: Sendable, Hashable {
    /// At most this many chat completions run at once per account (the authorization key and scope, or the user,
    /// a token was issued to); beyond it 429 `{"status":429,"message":"Too many requests"}`. The real API allows
    /// 1 for personal accounts and 10 for business ones. `nil` = unlimited. Default: `nil`.
    public var concurrencyLimitPerToken: Int?
    /// The fraction (0...1) of chat calls answered 429 `Too many requests`. Default: `0`.
    public var rateLimitedRate: Double
    /// Seconds sent as `Retry-After` on every 429 when set (the real API's use of the header is unconfirmed).
    /// Default: `nil`.
    public var retryAfter: Int?
    /// The fraction (0...1) of chat calls answered 500 `{"status":500,"message":"Internal Server Error"}`.
    /// Default: `0`.
    public var internalErrorRate: Double
    /// The fraction (0...1) of chat calls answered 503 `{"status":503,"message":"Service Unavailable"}`.
    /// Default: `0`.
    public var unavailableRate: Double
    /// Closes the connection after this many SSE events of a stream (counting from 1), without the final
    /// chunked-encoding terminator and before `data: [DONE]`; a value at or beyond the number of JSON events
    /// cuts just before `[DONE]`. `0` closes right after the response head. Default: `nil`.
    public var cutStreamAfterEvents: Int?
    /// The fraction (0...1) of streamed answers closed after a random number of events (at least one, always
    /// before `[DONE]`), as ``cutStreamAfterEvents`` closes them. Default: `0`.
    public var cutStreamRate: Double
    /// Replaces SSE event number N (counting from 1) with a `data:` line of broken JSON; the events after it are
    /// sent normally. Default: `nil`.
    public var malformedEventAt: Int?
    /// The fraction (0...1) of structured-output requests (`response_format` `json_schema`) whose first attempt
    /// (a conversation without an assistant message) is answered with text that is not JSON: a sentence before the
    /// value, as models do. Which prompts are chosen is fixed by a hash of the last user message
    /// (``GigaChatEmulator/answersInvalidJSON(to:rate:)``), so a test can predict them; a corrective attempt is
    /// answered well. Default: `0`.
    public var invalidStructuredRate: Double
    /// Every chat call is answered 503 `Service Unavailable` while set: an outage. Default: `false`.
    public var outage: Bool
    /// The account's remaining tokens: each answered chat uses its `usage.total_tokens`, and at 0 or below every
    /// chat call is answered 402 `{"status":402,"message":"Payment Required"}` until it is topped up (set again).
    /// `nil` = unlimited. Default: `nil`.
    public var balanceTokens: Int?
    /// Added to the `expires_at` OAuth answers report (not to the real expiry), as a client with a skewed clock sees
    /// it: the API then answers 401 `Token has expired` for tokens the client believes valid. Default: `.zero`.
    public var tokenExpiryReportedLate: Duration
    /// Extra time every OAuth answer takes. Default: `.zero`.
    public var oauthDelay: Duration
    /// OAuth calls allowed per second (the real endpoint allows 10); calls beyond it within the same second are
    /// answered 429 `{"code":429,"message":"Too many requests"}` (the real body is undocumented). `nil` = no limit.
    /// Default: `nil`.
    public var oauthRequestsPerSecond: Int?
    /// HTTP statuses answered, in order, to the next chat calls (one per call) before normal service resumes,
    /// e.g. `[429, 500]`. Setting new faults restarts the list. Default: empty.
    public var failFirst: [Int]

    /// Creates a fault set; the defaults inject nothing.
    public init(
        concurrencyLimitPerToken: Int? = nil,
        rateLimitedRate: Double = 0,
        retryAfter: Int? = nil,
        internalErrorRate: Double = 0,
        unavailableRate: Double = 0,
        cutStreamAfterEvents: Int? = nil,
        cutStreamRate: Double = 0,
        malformedEventAt: Int? = nil,
        invalidStructuredRate: Double = 0,
        outage: Bool = false,
        balanceTokens: Int? = nil,
        tokenExpiryReportedLate: Duration = .zero,
        oauthDelay: Duration = .zero,
        oauthRequestsPerSecond: Int? = nil,
        failFirst: [Int] = []
    ) {
        self.concurrencyLimitPerToken = concurrencyLimitPerToken
        self.rateLimitedRate = rateLimitedRate
        self.retryAfter = retryAfter
        self.internalErrorRate = internalErrorRate
        self.unavailableRate = unavailableRate
        self.cutStreamAfterEvents = cutStreamAfterEvents
        self.cutStreamRate = cutStreamRate
        self.malformedEventAt = malformedEventAt
        self.invalidStructuredRate = invalidStructuredRate
        self.outage = outage
        self.balanceTokens = balanceTokens
        self.tokenExpiryReportedLate = tokenExpiryReportedLate
        self.oauthDelay = oauthDelay
        self.oauthRequestsPerSecond = oauthRequestsPerSecond
        self.failFirst = failFirst
    }

    func validate() throws(GigaChatEmulatorError) {
        for (name, rate) in [
            ("rateLimitedRate", rateLimitedRate), ("internalErrorRate", internalErrorRate),
            ("unavailableRate", unavailableRate), ("cutStreamRate", cutStreamRate),
            ("invalidStructuredRate", invalidStructuredRate),
        ] where !(0...1).contains(rate) {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "\(name) must be in 0...1")
        }
        if let concurrencyLimitPerToken, concurrencyLimitPerToken < 1 {
            throw GigaChatEmulatorError(
                code: .invalidConfiguration,
                message: "concurrencyLimitPerToken must be at least 1"
            )
        }
        if let cutStreamAfterEvents, cutStreamAfterEvents < 0 {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "cutStreamAfterEvents must be >= 0")
        }
        if let malformedEventAt, malformedEventAt < 1 {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "malformedEventAt must be >= 1")
        }
        if let retryAfter, retryAfter < 0 {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "retryAfter must be >= 0")
        }
        if let oauthRequestsPerSecond, oauthRequestsPerSecond < 1 {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "oauthRequestsPerSecond must be >= 1")
        }
        guard oauthDelay >= .zero else {
            throw GigaChatEmulatorError(code: .invalidConfiguration, message: "oauthDelay must not be negative")
        }
        for status in failFirst where !(400...599).contains(status) {
            throw GigaChatEmulatorError(
                code: .invalidConfiguration,
                message: "failFirst holds \(status), not an HTTP error status"
            )
        }
    }
}
