import Foundation
import GigaChat

/// A prompt job as read from the jobs topic (DESIGN.md "Messages"): what to ask GigaChat and where to answer.
///
/// Only `id` and `messages` are required; the rest falls back to the worker's configuration.
public struct Job: Sendable, Hashable {
    /// What the job asks GigaChat for.
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        /// A chat answer to `messages` (the default).
        case chat
        /// Vectors of `input` (`POST /embeddings`).
        case embeddings
    }

    /// The job's id, echoed in every output (key of partials and completions).
    public var id: String
    /// `chat` or `embeddings`.
    public var kind: Kind = .chat
    /// An embeddings job's texts, one vector each (empty for chat jobs).
    public var input: [String] = []
    /// The model; `nil` uses the configured default.
    public var model: String?
    /// The conversation, in order.
    public var messages: [ChatMessage]
    /// Whether to stream the answer as partials; `nil` uses the configured default.
    public var stream: Bool?
    /// The GigaChat chat API to call (`v1` or `v2`); `nil` uses `gigachat.api`. The completion looks the same
    /// whichever API answered.
    public var api: GigaChatAPI?
    /// The `X-Session-ID` to call GigaChat with, so its prefix cache serves a prompt prefix this job shares with
    /// others; `nil` lets `cache.session_id` decide (by default, derived from the shared prefix).
    public var sessionID: String?
    /// Chat parameters passed to the API as they are (`temperature`, `max_tokens`, `functions`, ...).
    public var options: [String: JSONValue]
    /// The topic to answer on (after the Spring `kafka_replyTopic` header, before the completions topic).
    public var replyTo: String?
    /// When the answer stops being useful; past it the job ends with `deadline_exceeded`.
    public var deadline: Date?
    /// Free-form data echoed in the completion.
    public var metadata: JSONValue?

    /// Creates a job.
    public init(
        id: String,
        model: String? = nil,
        messages: [ChatMessage],
        stream: Bool? = nil,
        api: GigaChatAPI? = nil,
        sessionID: String? = nil,
        options: [String: JSONValue] = [:],
        replyTo: String? = nil,
        deadline: Date? = nil,
        metadata: JSONValue? = nil
    ) {
        self.id = id
        self.model = model
        self.messages = messages
        self.stream = stream
        self.api = api
        self.sessionID = sessionID
        self.options = options
        self.replyTo = replyTo
        self.deadline = deadline
        self.metadata = metadata
    }
}
