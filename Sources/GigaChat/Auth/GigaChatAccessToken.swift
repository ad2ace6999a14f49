import Foundation

/// An access token and when it expires. Its description never shows the token.
public struct GigaChatAccessToken: Sendable, Hashable, CustomStringConvertible {
    /// The bearer token.
    public var value: String
    /// When it expires; `nil` = unknown (a pre-issued token, used until the API rejects it).
    public var expiresAt: Date?

    /// Creates a token.
    public init(value: String, expiresAt: Date?) {
        self.value = value
        self.expiresAt = expiresAt
    }

    /// Whether the token can still be used for a request starting now.
    /// - Parameter buffer: How long before expiry a token stops being usable.
    public func isUsable(buffer: Duration, now: Date = Date()) -> Bool {
        guard let expiresAt = self.expiresAt else { return true }
        return expiresAt.timeIntervalSince(now) > buffer.seconds
    }

    /// Converts a wire expiry to a date.
    ///
    /// `expires_at` of OAuth is in milliseconds, but the `/token` endpoint's `exp` (and one OAuth reference
    /// example) look like seconds (GIGACHAT_API.md §1.1-1.2). Values below 10^12 are therefore read as seconds:
    /// 10^12 ms is September 2001 (no valid token expires then) and 10^12 s is the year 33658, so the two
    /// readings cannot be confused. Reading seconds as milliseconds would make every token look expired.
    public static func expiryDate(fromWire value: Double) -> Date {
        value < 1e12 ? Date(timeIntervalSince1970: value) : Date(timeIntervalSince1970: value / 1000)
    }

    public var description: String {
        "GigaChatAccessToken(<redacted>, expiresAt: \(self.expiresAt.map { "\($0)" } ?? "unknown"))"
    }
}
