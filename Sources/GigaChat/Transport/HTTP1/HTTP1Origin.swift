/// Where a pooled connection goes: the scheme, host and port of an `http` or `https` URL.
struct HTTP1Origin: Hashable, Sendable {
    var tls: Bool
    /// The host as written in the URL, without the brackets of an IPv6 literal.
    var host: String
    var port: Int

    /// The `Host` header: the host, and the port when it is not the scheme's default.
    var hostHeader: String {
        let host = self.host.utf8.contains(UInt8(ascii: ":")) ? "[\(self.host)]" : self.host
        return self.port == (self.tls ? 443 : 80) ? host : "\(host):\(self.port)"
    }

    /// Splits `url` into its origin and its target (path and query; `/` when the URL has none).
    ///
    /// `nil` for what the direct transport does not serve: another scheme, user information, a fragment, an empty
    /// host or a port that is not a number (such URLs go through AsyncHTTPClient, which reports them).
    static func split(_ url: String) -> (origin: HTTP1Origin, target: String)? {
        let tls: Bool
        let rest: Substring
        if url.utf8.count >= 8, url.prefix(8).lowercased() == "https://" {
            tls = true
            rest = url.dropFirst(8)
        } else if url.utf8.count >= 7, url.prefix(7).lowercased() == "http://" {
            tls = false
            rest = url.dropFirst(7)
        } else {
            return nil
        }
        guard !rest.contains("#") else { return nil }
        let authorityEnd = rest.firstIndex(where: { $0 == "/" || $0 == "?" }) ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        var target = String(rest[authorityEnd...])
        if target.isEmpty || target.first == "?" { target = "/" + target }
        guard !authority.isEmpty, !authority.contains("@") else { return nil }
        var host: Substring
        var portText: Substring?
        if authority.first == "[" {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { return nil }
                portText = after.dropFirst()
            }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { return nil }
        var port = tls ? 443 : 80
        if let portText {
            guard let number = Int(portText), (1...65535).contains(number) else { return nil }
            port = number
        }
        return (HTTP1Origin(tls: tls, host: String(host), port: port), target)
    }
}
