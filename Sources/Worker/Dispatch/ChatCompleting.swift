import GigaChat

/// The GigaChat calls a job's attempts make: the seam between ``JobRunner`` and ``GigaChatClient``, at which the
/// runner's unit tests answer with a script instead of GigaChat.
protocol ChatCompleting: Sendable {
    /// One plain call.
    func completeChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) async throws -> ChatResponse

    /// One streamed call: `onChunk` gets each chunk in order as it arrives, on an event-loop thread (so it is quick
    /// and never waits); returns once the answer ended.
    func streamChat(
        _ request: ChatRequest,
        headers: GigaChatRequestHeaders,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) async throws

    /// One embeddings call: a vector per text.
    func embed(_ input: [String], model: String, headers: GigaChatRequestHeaders) async throws -> EmbeddingsResponse
}

extension GigaChatClient: ChatCompleting {
    func completeChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) async throws -> ChatResponse {
        try await chat(request, headers: headers)
    }

    func streamChat(
        _ request: ChatRequest,
        headers: GigaChatRequestHeaders,
        onChunk: @escaping @Sendable (ChatChunk) -> Void
    ) async throws {
        try await stream(request, headers: headers, onChunk: onChunk)
    }

    func embed(_ input: [String], model: String, headers: GigaChatRequestHeaders) async throws -> EmbeddingsResponse {
        try await embeddings(input, model: model, headers: headers)
    }
}
