/// One event of a server-sent-events stream, as far as GigaChat v1 needs it.
public enum SSEEvent: Sendable, Hashable {
    /// The event's data: the `data:` lines of one event joined with `\n` (no trailing newline).
    case data([UInt8])
    /// `data: [DONE]`: the end of the answer.
    case done
}
