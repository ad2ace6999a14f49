/// Where access tokens come from. Identifies a token: two clients with equal sources share one token.
public enum GigaChatTokenSource: Sendable, Hashable, CustomStringConvertible {
    /// `POST {url}` (the OAuth endpoint) with `Authorization: Basic <credentials>` and `scope=<scope>`.
    case oauth(url: String, credentials: String, scope: String)
    /// `POST {url}` (`{baseURL}/token`) with HTTP Basic `user:password`; answers `{"tok","exp"}`.
    case password(url: String, user: String, password: String)

    public var description: String {
        switch self {
        case .oauth(let url, _, let scope): return "oauth(\(url), credentials: <redacted>, scope: \(scope))"
        case .password(let url, let user, _): return "password(\(url), user: \(user), password: <redacted>)"
        }
    }
}
