import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

extension GigaChatClient {
    private struct OAuthResponse: Decodable {
        var accessToken: String
        var expiresAt: Double?

        enum CodingKeys: String, CodingKey {
            case accessToken = "access_token"
            case expiresAt = "expires_at"
        }
    }

    private struct PasswordTokenResponse: Decodable {
        var tok: String
        var exp: Double?
    }

    /// Obtains a new token from `source` (one HTTP call; retries belong to the calling request).
    func requestToken(from source: GigaChatTokenSource) async throws -> GigaChatAccessToken {
        let url: String
        var headers = HTTPHeaders()
        let form: ByteBuffer?
        let secrets: [String]
        switch source {
        case .oauth(let oauthURL, let credentials, let scope):
            url = oauthURL
            // The key is already Base64 of client_id:client_secret; re-encoding it is a known failure (code 4).
            headers.add(name: "Authorization", value: "Basic \(credentials)")
            headers.add(name: "RqUID", value: UUID().lowercasedString)
            headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            form = ByteBuffer(string: "scope=" + Self.formEncode(scope))
            secrets = [credentials]
        case .password(let tokenURL, let user, let password):
            url = tokenURL
            let basic = Data("\(user):\(password)".utf8).base64EncodedString()
            headers.add(name: "Authorization", value: "Basic \(basic)")
            form = nil
            secrets = [password, basic]
        }
        headers.add(name: "Accept", value: "application/json")
        headers.add(name: "User-Agent", value: self.configuration.userAgent)

        // No deadline of its own (a slow endpoint still renews a valid token in the background): a call that hangs
        // is outrun by the next caller that waits longer than its timeout (``GigaChatTokenProvider``).
        let response = try await self.send(.POST, root: url, headers: headers, body: form, deadline: .distantFuture)
        if let error = self.statusError(of: response, secrets: secrets) { throw error }
        let body = response.body
        let data = Data(body.readableBytesView)
        let token: GigaChatAccessToken
        do {
            switch source {
            case .oauth:
                let answer = try JSONDecoder().decode(OAuthResponse.self, from: data)
                token = GigaChatAccessToken(
                    value: answer.accessToken,
                    expiresAt: answer.expiresAt.map(GigaChatAccessToken.expiryDate(fromWire:))
                )
            case .password:
                let answer = try JSONDecoder().decode(PasswordTokenResponse.self, from: data)
                token = GigaChatAccessToken(
                    value: answer.tok,
                    expiresAt: answer.exp.map(GigaChatAccessToken.expiryDate(fromWire:))
                )
            }
        } catch {
            // The body holds the token: do not put the decoder's description (which may quote it) anywhere.
            throw GigaChatError(code: .decoding, message: "cannot decode the token endpoint's answer")
        }
        self.logger.debug(
            "GigaChat access token obtained",
            metadata: ["gigachat.token_expires_at": "\(token.expiresAt.map { "\($0)" } ?? "unknown")"]
        )
        return token
    }

    /// Obtains an access token now (an OAuth call unless a valid token is at hand): checks at start-up that the
    /// credentials work.
    /// - Throws: ``GigaChatError``: ``GigaChatError/Code/unauthorized`` when the token endpoint rejects the key,
    ///   others when it cannot be reached. Never contains the credentials.
    public func authorize(timeout: Duration = .seconds(30)) async throws {
        let fetch: GigaChatTokenProvider.Fetch = { [self] source in try await self.requestToken(from: source) }
        _ = try await self.tokenProvider.token(timeout: timeout, fetch: fetch)
    }

    static func formEncode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
