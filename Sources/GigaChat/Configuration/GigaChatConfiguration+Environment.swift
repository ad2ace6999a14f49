import Foundation

extension GigaChatConfiguration {
    /// Reads the official SDK's environment variables over the defaults.
    ///
    /// `GIGACHAT_CREDENTIALS`, `GIGACHAT_SCOPE`, `GIGACHAT_ACCESS_TOKEN`, `GIGACHAT_USER`, `GIGACHAT_PASSWORD`,
    /// `GIGACHAT_BASE_URL`, `GIGACHAT_AUTH_URL`, `GIGACHAT_MODEL`, `GIGACHAT_API`, `GIGACHAT_PROFANITY_CHECK`, `GIGACHAT_FLAGS`,
    /// `GIGACHAT_TIMEOUT` (seconds, idle-between-bytes), `GIGACHAT_VERIFY_SSL_CERTS`, `GIGACHAT_CA_BUNDLE_FILE`,
    /// `GIGACHAT_CERT_FILE`, `GIGACHAT_KEY_FILE`, `GIGACHAT_KEY_FILE_PASSWORD`, `GIGACHAT_MAX_CONNECTIONS`,
    /// `GIGACHAT_MAX_RETRIES`, `GIGACHAT_RETRY_BACKOFF_FACTOR` (seconds), `GIGACHAT_TOKEN_EXPIRY_BUFFER_MS`.
    ///
    /// Proxy: `GIGACHAT_PROXY` if set (an explicit choice, `NO_PROXY` does not apply; an empty value disables
    /// the generic variables); otherwise `HTTPS_PROXY`/`https_proxy` for an https base URL or
    /// `HTTP_PROXY`/`http_proxy` for an http one, unless the base URL's host matches `NO_PROXY`/`no_proxy`
    /// (comma-separated host suffixes, `*` for all) — the usual curl/httpx convention. Proxy URLs look like
    /// `http://[user:password@]host[:port]` (port defaults to 80 for http://, 3128 without a scheme).
    /// - Parameter environment: The variables; default: the process environment.
    /// - Throws: ``GigaChatError`` with code ``GigaChatError/Code/configuration`` for unparsable values.
    public static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> GigaChatConfiguration {
        var configuration = GigaChatConfiguration()
        try configuration.apply(environment: environment)
        return configuration
    }

    /// Overwrites the settings that `environment` sets (see ``fromEnvironment(_:)``).
    public mutating func apply(environment: [String: String]) throws {
        func value(_ name: String) -> String? {
            guard let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else {
                return nil
            }
            return value
        }
        func fail(_ name: String, _ expected: String) -> GigaChatError {
            GigaChatError(code: .configuration, message: "\(name) must be \(expected)")
        }
        func bool(_ name: String) throws -> Bool? {
            guard let text = value(name) else { return nil }
            switch text.lowercased() {
            case "1", "true", "yes", "on", "y", "t": return true
            case "0", "false", "no", "off", "n", "f": return false
            default: throw fail(name, "true or false")
            }
        }
        func int(_ name: String) throws -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text) else { throw fail(name, "an integer") }
            return number
        }
        func seconds(_ name: String) throws -> Duration? {
            guard let text = value(name) else { return nil }
            guard let number = Double(text), number >= 0, number.isFinite else {
                throw fail(name, "a number of seconds")
            }
            return .milliseconds(Int64((number * 1000).rounded()))
        }

        if let text = value("GIGACHAT_BASE_URL") { self.baseURL = text }
        if let text = value("GIGACHAT_AUTH_URL") { self.authURL = text }
        if let text = value("GIGACHAT_CREDENTIALS") { self.credentials = text }
        if let text = value("GIGACHAT_SCOPE") { self.scope = text }
        if let text = value("GIGACHAT_ACCESS_TOKEN") { self.accessToken = text }
        if let text = value("GIGACHAT_USER") { self.user = text }
        if let text = value("GIGACHAT_PASSWORD") { self.password = text }
        if let text = value("GIGACHAT_MODEL") { self.model = text }
        if let text = value("GIGACHAT_API") {
            guard let api = GigaChatAPI(rawValue: text.lowercased()) else { throw fail("GIGACHAT_API", "v1 or v2") }
            self.api = api
        }
        if let flag = try bool("GIGACHAT_PROFANITY_CHECK") { self.profanityCheck = flag }
        if let text = value("GIGACHAT_FLAGS") {
            self.flags = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        }
        if let idle = try seconds("GIGACHAT_TIMEOUT") { self.timeouts.idle = idle }
        if let flag = try bool("GIGACHAT_VERIFY_SSL_CERTS") { self.tls.verifyCertificates = flag }
        if let text = value("GIGACHAT_CA_BUNDLE_FILE") { self.tls.caBundleFile = text }
        if let text = value("GIGACHAT_CERT_FILE") { self.tls.certificateFile = text }
        if let text = value("GIGACHAT_KEY_FILE") { self.tls.keyFile = text }
        if let text = value("GIGACHAT_KEY_FILE_PASSWORD") { self.tls.keyFilePassword = text }
        if let number = try int("GIGACHAT_MAX_CONNECTIONS") { self.maxConnections = number }
        if let number = try int("GIGACHAT_MAX_RETRIES") { self.retry.maxRetries = number }
        if let factor = try seconds("GIGACHAT_RETRY_BACKOFF_FACTOR") { self.retry.backoffFactor = factor }
        if let number = try int("GIGACHAT_TOKEN_EXPIRY_BUFFER_MS") { self.tokenExpiryBuffer = .milliseconds(number) }

        if let explicit = environment["GIGACHAT_PROXY"] {
            let trimmed = explicit.trimmingCharacters(in: .whitespaces)
            self.proxy = trimmed.isEmpty ? nil : try Self.parseProxy(trimmed, variable: "GIGACHAT_PROXY")
        } else {
            let https = self.baseURL.lowercased().hasPrefix("https://")
            let names = https ? ["HTTPS_PROXY", "https_proxy"] : ["HTTP_PROXY", "http_proxy"]
            if let name = names.first(where: { value($0) != nil }), let text = value(name) {
                let noProxy = value("NO_PROXY") ?? value("no_proxy")
                if !Self.host(of: self.baseURL, matches: noProxy) {
                    self.proxy = try Self.parseProxy(text, variable: name)
                }
            }
        }
    }

    /// Parses `http://[user:password@]host[:port][/]`.
    static func parseProxy(_ text: String, variable: String) throws -> Proxy {
        var rest = Substring(text)
        var defaultPort = 3128
        if let range = rest.range(of: "://") {
            let scheme = rest[..<range.lowerBound].lowercased()
            guard scheme == "http" else {
                throw GigaChatError(
                    code: .configuration,
                    message: "\(variable): only http:// proxies are supported (CONNECT), not \(scheme)://"
                )
            }
            defaultPort = 80
            rest = rest[range.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        var user: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                user = String(userInfo[..<colon]).removingPercentEncoding
                password = String(userInfo[userInfo.index(after: colon)...]).removingPercentEncoding
            } else {
                user = String(userInfo).removingPercentEncoding
            }
        }
        var host = String(rest)
        var port = defaultPort
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            host = String(rest[..<colon])
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else {
                throw GigaChatError(code: .configuration, message: "\(variable): invalid proxy port")
            }
            port = number
        }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw GigaChatError(code: .configuration, message: "\(variable): no proxy host") }
        return Proxy(host: host, port: port, user: user, password: password)
    }

    /// Whether the host of `url` matches a `NO_PROXY` list.
    static func host(of url: String, matches noProxy: String?) -> Bool {
        guard let noProxy else { return false }
        guard let host = Self.urlHost(url)?.lowercased() else { return false }
        for entry in noProxy.split(separator: ",") {
            var pattern = entry.trimmingCharacters(in: .whitespaces).lowercased()
            if pattern == "*" { return true }
            if let colon = pattern.lastIndex(of: ":"), !pattern.contains("]") { pattern = String(pattern[..<colon]) }
            if pattern.hasPrefix("*") { pattern.removeFirst() }
            if pattern.hasPrefix(".") { pattern.removeFirst() }
            guard !pattern.isEmpty else { continue }
            if host == pattern || host.hasSuffix("." + pattern) { return true }
        }
        return false
    }

    static func urlHost(_ url: String) -> String? {
        guard let range = url.range(of: "://") else { return nil }
        var rest = url[range.upperBound...]
        if let slash = rest.firstIndex(of: "/") { rest = rest[..<slash] }
        if let at = rest.lastIndex(of: "@") { rest = rest[rest.index(after: at)...] }
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close])
        }
        if let colon = rest.lastIndex(of: ":") { rest = rest[..<colon] }
        return String(rest)
    }
}
