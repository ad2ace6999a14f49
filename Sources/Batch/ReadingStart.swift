import Foundation

/// Where `collect` starts reading the completions topic: a time, so that a long topic is not read from its
/// beginning (Kafka finds the first record at or after it in each partition).
public enum ReadingStart {
    /// How long before a manifest's first submission `collect` starts by default: room for the submitting and the
    /// answering machines' clocks to disagree (a completion's timestamp is the worker's clock).
    public static let clockMargin: TimeInterval = 600

    /// Parses `--since`: an RFC 3339 time (`2026-11-26T09:00:00Z`) or a span back from `now` (`90s`, `30m`, `2h`,
    /// `7d`). `nil` when it is neither.
    public static func parse(_ text: String, now: Date = Date()) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let date = rfc3339(trimmed) { return date }
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = trimmed.last, let factor = units[unit], let value = Double(trimmed.dropLast()),
            value >= 0, value.isFinite
        else { return nil }
        return now.addingTimeInterval(-value * factor)
    }

    /// The default start for a manifest whose first entry was submitted at `firstSubmission`.
    public static func forManifest(firstSubmission: Date) -> Date {
        firstSubmission.addingTimeInterval(-clockMargin)
    }

    /// An RFC 3339 time, with or without fractional seconds.
    static func rfc3339(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// `date` as RFC 3339 with milliseconds, in UTC.
    static func rfc3339(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
