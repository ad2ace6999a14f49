import Foundation

/// Delays between attempts: exponential backoff with full jitter, `Retry-After` honoured, both capped.
struct RetryPolicy: Sendable {
    var configuration: GigaChatConfiguration.Retry

    /// The wait before retry number `attempt + 1` (attempt 0 = the first retry).
    /// With `retryAfter` the server's wish is used (capped at `maxDelay`); otherwise a random time in
    /// `0...min(maxDelay, backoffFactor * 2^attempt)` — "full jitter", which spreads a burst of failed
    /// callers evenly instead of sending them back in waves.
    func delay(attempt: Int, retryAfter: Duration?, random: Double = Double.random(in: 0...1)) -> Duration {
        let cap = self.configuration.maxDelay.seconds
        if let retryAfter, retryAfter > .zero {
            return .milliseconds(Int64(min(retryAfter.seconds, cap) * 1000))
        }
        let ceiling = min(cap, self.configuration.backoffFactor.seconds * pow(2, Double(min(attempt, 30))))
        return .milliseconds(Int64(ceiling * random * 1000))
    }

    /// Parses a `Retry-After` value: delay-seconds or an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`).
    static func parseRetryAfter(_ value: String, now: Date = Date()) -> Duration? {
        let text = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Double(text), seconds.isFinite, seconds >= 0 {
            return .milliseconds(Int64(seconds * 1000))
        }
        guard let date = Self.parseHTTPDate(text) else { return nil }
        let interval = date.timeIntervalSince(now)
        return interval > 0 ? .milliseconds(Int64(interval * 1000)) : .zero
    }

    /// Parses an IMF-fixdate without a DateFormatter (fixed format, GMT only).
    static func parseHTTPDate(_ text: String) -> Date? {
        // "Sun, 06 Nov 1994 08:49:37 GMT"
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), let year = Int(parts[3]) else { return nil }
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard let monthIndex = months.firstIndex(of: String(parts[2])) else { return nil }
        let time = parts[4].split(separator: ":").compactMap { Int($0) }
        guard time.count == 3, (1...31).contains(day), (0...23).contains(time[0]), (0...59).contains(time[1]),
            (0...60).contains(time[2])
        else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm).
        let month = monthIndex + 1
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = days * 86_400 + time[0] * 3600 + time[1] * 60 + time[2]
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }
}
