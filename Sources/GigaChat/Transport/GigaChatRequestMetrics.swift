import Metrics
import Synchronization

/// `gigachat_requests_total{endpoint, status}` through swift-metrics (a no-op until the application bootstraps a
/// metrics backend): every HTTP exchange with GigaChat, OAuth included, by endpoint (`chat`, `oauth`, `token`,
/// `models`, `tokens_count`, `embeddings`, `balance`, `other`) and HTTP status (`error` when no answer came).
/// OAuth refreshes are the `oauth` (or `token`) ones.
final class GigaChatRequestMetrics: Sendable {
    static let shared = GigaChatRequestMetrics()

    private struct Key: Hashable {
        var endpoint: String
        /// The HTTP status; `nil`: no answer.
        var status: Int?
    }

    private let counters = Mutex<[Key: Counter]>([:])

    /// Counts one exchange with `url`; `status` `nil` when no answer came.
    func record(url: String, status: Int?) {
        let key = Key(endpoint: Self.endpoint(of: url), status: status)
        let counter = self.counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(
                label: "gigachat_requests_total",
                dimensions: [("endpoint", key.endpoint), ("status", status.map(String.init) ?? "error")]
            )
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    /// The endpoint label of `url`, read off its bytes (this runs for every call).
    static func endpoint(of url: String) -> String {
        var url = url
        return url.withUTF8 { bytes -> String in
            let path = bytes[..<(bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex)]
            func endsWith(_ suffix: String) -> Bool {
                path.count >= suffix.utf8.count && path.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
            }
            if endsWith("/chat/completions") { return "chat" }
            if endsWith("/oauth") { return "oauth" }
            if endsWith("/tokens/count") { return "tokens_count" }
            if endsWith("/token") { return "token" }
            if endsWith("/embeddings") { return "embeddings" }
            if endsWith("/balance") { return "balance" }
            return String(decoding: path, as: UTF8.self).contains("/models") ? "models" : "other"
        }
    }
}
