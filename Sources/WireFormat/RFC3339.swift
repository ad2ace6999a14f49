import Foundation

/// RFC 3339 date-times, as jobs' `deadline` and the submit manifest write them.
public enum RFC3339 {
    /// Parses a date-time with or without fractional seconds (`2026-11-24T20:00:00Z`,
    /// `2026-11-24T23:00:00.250+03:00`); `nil` for anything else.
    public static func date(from text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let date = plain.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return fractional.date(from: text)
    }

    /// `date` in UTC with milliseconds.
    public static func string(from date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
