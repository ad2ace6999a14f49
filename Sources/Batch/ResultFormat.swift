/// The results file's line format.
public enum ResultFormat: String, Sendable, CaseIterable {
    /// The completions as the worker published them.
    case jobs
    /// OpenAI's Batch API output lines (`custom_id`, `response.status_code`, `response.body`).
    case openai
}
