import Foundation
import NIOCore

extension GigaChatClient {
    private struct ModelList: Decodable {
        var data: [GigaChatModel]
    }

    private struct TokensCountRequest: Encodable {
        var model: String
        var input: [String]
    }

    private struct EmbeddingsRequest: Encodable {
        var model: String
        var input: [String]
    }

    private struct Balance: Decodable {
        var balance: [BalanceEntry]
    }

    /// Lists the models the account can use (`GET /models`).
    /// - Throws: ``GigaChatError``.
    public func models(headers: GigaChatRequestHeaders = .init()) async throws -> [GigaChatModel] {
        try await self.callJSON(.GET, "/models", headers: headers, as: ModelList.self).0.data
    }

    /// Describes one model (`GET /models/{id}`).
    /// - Throws: ``GigaChatError`` (``GigaChatError/Code/notFound`` for an unknown model).
    public func model(_ id: String, headers: GigaChatRequestHeaders = .init()) async throws -> GigaChatModel {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        let escaped = id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
        return try await self.callJSON(.GET, "/models/\(escaped)", headers: headers, as: GigaChatModel.self).0
    }

    /// Counts the tokens of each input (`POST /tokens/count`).
    /// - Parameters:
    ///   - input: The texts.
    ///   - model: The model whose tokenizer counts; default: the configured model.
    /// - Returns: One count per input, in order.
    /// - Throws: ``GigaChatError``.
    public func countTokens(
        _ input: [String],
        model: String? = nil,
        headers: GigaChatRequestHeaders = .init()
    ) async throws -> [TokensCount] {
        let body = try Self.encode(TokensCountRequest(model: model ?? self.configuration.model, input: input))
        return try await self.callJSON(.POST, "/tokens/count", body: body, headers: headers, as: [TokensCount].self).0
    }

    /// Computes embeddings (`POST /embeddings`).
    /// - Parameters:
    ///   - input: The texts.
    ///   - model: The embeddings model. Default: `Embeddings`.
    /// - Throws: ``GigaChatError``.
    public func embeddings(
        _ input: [String],
        model: String = "Embeddings",
        headers: GigaChatRequestHeaders = .init()
    ) async throws -> EmbeddingsResponse {
        let body = try Self.encode(EmbeddingsRequest(model: model, input: input))
        return try await self.callJSON(.POST, "/embeddings", body: body, headers: headers, as: EmbeddingsResponse.self)
            .0
    }

    /// The remaining prepaid tokens (`GET /balance`); pay-as-you-go accounts get 403.
    /// - Throws: ``GigaChatError``.
    public func balance(headers: GigaChatRequestHeaders = .init()) async throws -> [BalanceEntry] {
        try await self.callJSON(.GET, "/balance", headers: headers, as: Balance.self).0.balance
    }

    /// Obtains a token now (e.g. to check credentials at start-up) instead of on the first call.
    /// - Throws: ``GigaChatError``.
    public func authenticate() async throws {
        _ = try await self.withRetries("token", deadline: self.deadline(nil)) {
            try await self.tokenProvider.token { [self] source in try await self.requestToken(from: source) }
        }
    }
}
