import GigaChat

/// What one attempt of a job answered (a streamed one is gathered by ``StreamedAnswer``).
struct AttemptAnswer {
    var content: String
    var finishReason: String?
    var functionCall: ChatFunctionCall?
    var usage: ChatUsage?
    var model: String?
    /// The JSON value of a structured-output answer, checked against the job's schema.
    var parsed: JSONValue?
    /// An embeddings job's vectors, in input order.
    var embeddings: [[Double]]?
    /// A reasoning model's reasoning text (v1 `reasoning_content`).
    var reasoning: String?
    /// Files the model generated (v2 `files` parts: images, ...), by id.
    var files: [String]?
    var timeToFirstToken: Duration
    /// A streamed attempt's partials, to be delivered before the completion (outside the deadline: the answer
    /// is in, and paid for).
    var partials: PartialStream?
}
