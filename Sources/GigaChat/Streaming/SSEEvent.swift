/// One event of a server-sent-events stream, as far as GigaChat needs it (v1: unnamed `data:` events and
/// `[DONE]`; v2: named events such as `response.message.delta`).
public enum SSEEvent: Sendable, Hashable {
    /// The event's data: the `data:` lines of one event joined with `\n` (no trailing newline).
    case data([UInt8])
    /// An event with an `event:` field: its name and its data as in ``data(_:)``.
    case named(String, [UInt8])
    /// `data: [DONE]`: the end of the answer.
    case done
}
