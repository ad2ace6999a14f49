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
        var request: HTTPClientRequest
        let secrets: [String]
        switch source {
        case .oauth(let url, let credentials, let scope):
            request = HTTPClientRequest(url: url)
            request.method = .POST
            // The key is already Base64 of client_id:client_secret; re-encoding it is a known failure (code 4).
            request.headers.add(name: "Authorization", value: "Basic \(credentials)")
            request.headers.add(name: "RqUID", value: UUID().uuidString.lowercased())
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: "scope=" + Self.formEncode(scope)))
            secrets = [credentials]
        case .password(let url, let user, let password):
            request = HTTPClientRequest(url: url)
            request.method = .POST
            let basic = Data("\(user):\(password)".utf8).base64EncodedString()
            request.headers.add(name: "Authorization", value: "Basic \(basic)")
            secrets = [password, basic]
        }
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: self.configuration.userAgent)

        let response = try await self.execute(request, deadline: .distantFuture)
        try await self.checkStatus(response, secrets: secrets)
        let body = try await self.collect(response)
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
