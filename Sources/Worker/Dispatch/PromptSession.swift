import GigaChat
import WireFormat

/// The `X-Session-ID` a job's calls carry, so that GigaChat's prefix cache serves the prompt prefix jobs share:
/// cached tokens are not billed (GigaChat's "counting tokens" guide), and a stable session id is what keeps the
/// cache hitting (Sber's gpt2giga measured 87% hits with random ids and 100% with a fixed one).
///
/// The job's `session_id` wins. Otherwise, with `cache.session_id` `prefix` (the default), jobs whose messages
/// before the last one are the same (a shared system prompt, few-shot examples, a template put there) and whose
/// model is the same share one id, derived from those messages; a job of one message has no shared prefix and
/// gets none. `cache.session_id` `off` sends only the jobs' own ids.
public enum PromptSession {
    /// How session ids are chosen for jobs without their own.
    public enum Mode: String, Sendable, CaseIterable {
        case prefix
        case off
    }

    /// The session id for `job`'s calls, if any.
    public static func id(for job: Job, mode: Mode) -> String? {
        if let own = job.sessionID { return own }
        guard mode == .prefix, job.messages.count > 1 else { return nil }
        // Two FNV-1a hashes (different offsets) of the model and each message of the prefix; every string and list
        // is preceded by its length, so no two different prefixes are the same bytes.
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x6c62_272e_07bb_0142
        func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) {
            for byte in bytes {
                first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
                second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            }
        }
        func feed(count: Int) { withUnsafeBytes(of: UInt64(count).littleEndian) { feed($0) } }
        func feed(_ text: String) {
            feed(count: text.utf8.count)
            feed(text.utf8)
        }
        feed(job.model ?? "")
        let prefix = job.messages.dropLast()
        feed(count: prefix.count)
        for message in prefix {
            feed(message.role.rawValue)
            feed(message.content ?? "")
            feed(message.name ?? "")
            feed(count: message.attachments?.count ?? 0)
            for attachment in message.attachments ?? [] { feed(attachment) }
        }
        return "prefix-" + hex(first) + hex(second)
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
