/// A snapshot of what a ``GigaChatEmulator`` has served since start or the last
/// ``GigaChatEmulator/resetCounters()``.
public struct GigaChatEmulatorCounters: Sendable, Hashable {
    /// Requests to `POST /api/v2/oauth`, successful or not.
    public var oauthCalls: Int = 0
    /// The part of ``oauthCalls`` answered 429 by ``GigaChatEmulatorFaults/oauthRequestsPerSecond``.
    public var oauthRateLimited: Int = 0
    /// Requests to `POST /api/v1/token` (user and password), successful or not.
    public var passwordTokenCalls: Int = 0
    /// Authorised requests to `POST /api/v1/chat/completions` and `POST /api/v2/chat/completions` (streamed or not,
    /// valid or not).
    public var chatCalls: Int = 0
    /// The part of ``chatCalls`` that asked for `"stream": true`.
    public var streamCalls: Int = 0
    /// The part of ``chatCalls`` made to `POST /api/v2/chat/completions`.
    public var v2ChatCalls: Int = 0
    /// Chat completions answered 200 in full: the whole JSON body, or a stream up to its end (`data: [DONE]` on v1,
    /// the `response.message.done` event on v2).
    public var completedChats: Int = 0
    /// API requests answered 401 (missing, unknown or expired bearer token), OAuth failures excluded.
    public var rejectedUnauthorized: Int = 0
    /// The part of ``rejectedUnauthorized`` answered `Token has expired`.
    public var rejectedExpired: Int = 0
    /// Chat calls answered 429, for any reason (failFirst, concurrency limit, random rate).
    public var rateLimited: Int = 0
    /// Chat calls answered 429 because the account's concurrency limit was reached.
    public var concurrencyRejections: Int = 0
    /// Chat calls answered 402 because ``GigaChatEmulatorFaults/balanceTokens`` ran out.
    public var paymentRequired: Int = 0
    /// Chat calls answered an injected error other than 429 (failFirst, internalErrorRate, unavailableRate).
    public var injectedErrors: Int = 0
    /// Chat calls answered 4xx because the request was invalid (bad JSON, unknown model, invalid params).
    public var invalidRequests: Int = 0
    /// Streams closed mid-way by ``GigaChatEmulatorFaults/cutStreamAfterEvents``.
    public var cutStreams: Int = 0
    /// Broken events sent because of ``GigaChatEmulatorFaults/malformedEventAt``.
    public var malformedEvents: Int = 0
    /// Authorised requests to `/api/v1/files...` (upload, list, get, content, delete).
    public var fileCalls: Int = 0
    /// Files stored by `POST /api/v1/files`.
    public var uploadedFiles: Int = 0
    /// Files removed by `POST /api/v1/files/{id}/delete`.
    public var deletedFiles: Int = 0
    /// Prompt tokens served from the prefix cache (``GigaChatEmulatorConfiguration/prefixCacheTTL``), summed.
    public var cachedPromptTokens: Int = 0
    /// Structured-output answers that were not JSON because of ``GigaChatEmulatorFaults/invalidStructuredRate``.
    public var invalidStructuredAnswers: Int = 0
    /// Authorised requests to models, tokens/count, embeddings and balance.
    public var otherCalls: Int = 0
    /// Chat completions being answered right now (admitted, response not finished).
    public var currentConcurrentChats: Int = 0
    /// The highest ``currentConcurrentChats`` seen.
    public var maxConcurrentChats: Int = 0
    /// The time integral of ``currentConcurrentChats``, in stream-seconds: divided by the elapsed time it is the
    /// average number of chats running, the utilisation of an account's concurrency limit.
    public var concurrentChatSeconds: Double = 0

    /// All zero.
    public init() {}
}
