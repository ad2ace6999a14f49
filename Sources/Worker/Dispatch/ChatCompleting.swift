import GigaChat

/// The GigaChat calls a job's attempts make: the seam between ``JobRunner`` and ``GigaChatClient``, at which the
/// runner's unit tests answer with a script instead of GigaChat.
protocol ChatCompleting: Sendable {
    /// The chunks of a streamed answer.
    associatedtype Chunks: AsyncSequence, Sendable where Chunks.Element == ChatChunk

    /// One plain call.
    func completeChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) async throws -> ChatResponse

    /// One streamed call (nothing is sent until the chunks are iterated).
    func streamChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) -> Chunks

    /// One embeddings call: a vector per text.
    func embed(_ input: [String], model: String, headers: GigaChatRequestHeaders) async throws -> EmbeddingsResponse
}

extension GigaChatClient: ChatCompleting {
    func completeChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) async throws -> ChatResponse {
        try await chat(request, headers: headers)
    }

    func streamChat(_ request: ChatRequest, headers: GigaChatRequestHeaders) -> ChatStream {
        stream(request, headers: headers)
    }

    func embed(_ input: [String], model: String, headers: GigaChatRequestHeaders) async throws -> EmbeddingsResponse {
        try await embeddings(input, model: model, headers: headers)
    }
}
