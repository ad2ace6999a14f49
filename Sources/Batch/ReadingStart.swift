import Foundation
import WireFormat

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
        if let date = RFC3339.date(from: trimmed) { return date }
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
}
