import Metrics
import Synchronization

/// `gigachat_requests_total{endpoint, status}` through swift-metrics (a no-op until the application bootstraps a
/// metrics backend): every HTTP exchange with GigaChat, OAuth included, by endpoint (`chat`, `oauth`, `token`,
/// `models`, `tokens_count`, `embeddings`, `balance`, `other`) and HTTP status (`error` when no answer came).
/// OAuth refreshes are the `oauth` (or `token`) ones.
final class GigaChatRequestMetrics: Sendable {
    static let shared = GigaChatRequestMetrics()

    private let counters = Mutex<[String: Counter]>([:])

    func record(url: String, status: String) {
        let endpoint = Self.endpoint(of: url)
        let key = endpoint + " " + status
        let counter = counters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = Counter(label: "gigachat_requests_total", dimensions: [("endpoint", endpoint), ("status", status)])
            counters[key] = counter
            return counter
        }
        counter.increment()
    }

    static func endpoint(of url: String) -> String {
        let path = url.split(separator: "?", maxSplits: 1).first.map(String.init) ?? url
        if path.hasSuffix("/chat/completions") { return "chat" }
        if path.hasSuffix("/oauth") { return "oauth" }
        if path.hasSuffix("/tokens/count") { return "tokens_count" }
        if path.hasSuffix("/token") { return "token" }
        if path.hasSuffix("/embeddings") { return "embeddings" }
        if path.contains("/models") { return "models" }
        if path.hasSuffix("/balance") { return "balance" }
        return "other"
    }
}
