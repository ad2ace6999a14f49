/// Which GigaChat chat API a call uses.
///
/// Both answer with the same Swift types (``ChatResponse``, ``ChatChunk``): the client writes the request in the
/// chosen API's shape and maps its answer back, so callers do not change with the API (docs/GIGACHAT_API.md,
/// "v2 mapping").
public enum GigaChatAPI: String, Sendable, Hashable, Codable, CaseIterable {
    /// `POST {base}/chat/completions` with `choices`, `usage.prompt_tokens` and `data: [DONE]`-terminated streams.
    case v1
    /// `POST /api/v2/chat/completions` (the official SDK's "primary" chat since 0.2): content parts,
    /// `model_options`, `tools`, usage as `input_tokens`/`output_tokens`, streams of named events.
    case v2
}
