import NIOCore
import NIOHTTP1

// MARK: - EmulatorRouter + Models, tokens, embeddings, balance

extension EmulatorRouter {

    private func modelObject(_ id: String) -> EmulatorJSON {
        .object([
            ("id", .string(id)),
            ("object", .string("model")),
            ("owned_by", .string("salutedevices")),
            ("type", .string(modelTypes[id] ?? "chat")),
        ])
    }

    /// `GET /api/v1/models`: `{"object":"list","data":[{"id","object":"model","owned_by","type"}, ...]}`.
    func models(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        if case .failure(let error) = authenticate(request, allocator: allocator) { return error.response }
        state.count { $0.otherCalls += 1 }
        return json(
            .ok,
            .object([
                ("object", .string("list")),
                ("data", .array(configuration.models.map(modelObject))),
            ]),
            request,
            allocator: allocator
        )
    }

    /// `GET /api/v1/models/{id}`: one model object, or 404 `No such model`.
    func model(id: String, _ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        if case .failure(let error) = authenticate(request, allocator: allocator) { return error.response }
        state.count { $0.otherCalls += 1 }
        guard modelTypes[id] != nil else { return apiError(.notFound, "No such model", request, allocator: allocator) }
        return json(.ok, modelObject(id), request, allocator: allocator)
    }

    /// Reads `{"model": "...", "input": [...]}` (a single string input is accepted too).
    private func modelAndInput(
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator,
        modelType: String
    ) -> Result<(model: String, input: [String]), EmulatorErrorResponse> {
        let body: EmulatorJSON
        do {
            body = try EmulatorJSON.parse(request.body)
        } catch {
            return .failure(
                EmulatorErrorResponse(
                    apiError(
                        .badRequest,
                        "Invalid JSON: \(error.message) at byte \(error.offset)",
                        request,
                        allocator: allocator
                    )
                )
            )
        }
        guard let model = body["model"]?.stringValue, !model.isEmpty else {
            return .failure(
                EmulatorErrorResponse(
                    apiError(.unprocessableEntity, "Invalid params: model is required", request, allocator: allocator)
                )
            )
        }
        guard modelTypes[model] == modelType else {
            return .failure(EmulatorErrorResponse(apiError(.notFound, "No such model", request, allocator: allocator)))
        }
        let input: [String]
        switch body["input"] {
        case .some(.string(let text)):
            input = [text]
        case .some(.array(let list)) where !list.isEmpty && list.allSatisfy({ $0.stringValue != nil }):
            input = list.compactMap(\.stringValue)
        default:
            return .failure(
                EmulatorErrorResponse(
                    apiError(
                        .unprocessableEntity,
                        "Invalid params: input must be a non-empty array of strings",
                        request,
                        allocator: allocator
                    )
                )
            )
        }
        return .success((model, input))
    }

    /// `POST /api/v1/tokens/count`: `[{"object":"tokens","tokens":N,"characters":N}, ...]`, one per input;
    /// tokens are ``GigaChatEmulator/tokenCount(of:)``, characters are Unicode scalars.
    func tokensCount(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        if case .failure(let error) = authenticate(request, allocator: allocator) { return error.response }
        state.count { $0.otherCalls += 1 }
        switch modelAndInput(request, allocator: allocator, modelType: "chat") {
        case .failure(let error):
            return error.response
        case .success(let parsed):
            return json(
                .ok,
                .array(
                    parsed.input.map { text in
                        .object([
                            ("object", .string("tokens")),
                            ("tokens", .number(Double(GigaChatEmulator.tokenCount(of: text)))),
                            ("characters", .number(Double(text.unicodeScalars.count))),
                        ])
                    }
                ),
                request,
                allocator: allocator
            )
        }
    }

    /// `POST /api/v1/embeddings`: deterministic 1024-number vectors derived from each text (a seeded SplitMix64;
    /// values are multiples of 1/2048 in [-2, 2), like the half-precision values the real API returns).
    func embeddings(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        if case .failure(let error) = authenticate(request, allocator: allocator) { return error.response }
        state.count { $0.otherCalls += 1 }
        switch modelAndInput(request, allocator: allocator, modelType: "embedder") {
        case .failure(let error):
            return error.response
        case .success(let parsed):
            let data = parsed.input.enumerated().map { index, text in
                EmulatorJSON.object([
                    ("object", .string("embedding")),
                    ("index", .number(Double(index))),
                    ("embedding", .array(GigaChatEmulator.embedding(of: text).map { .number($0) })),
                    ("usage", .object([("prompt_tokens", .number(Double(GigaChatEmulator.tokenCount(of: text))))])),
                ])
            }
            return json(
                .ok,
                .object([("object", .string("list")), ("model", .string(parsed.model)), ("data", .array(data))]),
                request,
                allocator: allocator
            )
        }
    }

    /// `GET /api/v1/balance`: the remaining prepaid tokens. Like the real API it answers 403
    /// `Permission denied` to pay-as-you-go accounts (scope `GIGACHAT_API_CORP`).
    func balance(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        let issued: EmulatorState.IssuedToken
        switch authenticate(request, allocator: allocator) {
        case .success(let token): issued = token
        case .failure(let error): return error.response
        }
        state.count { $0.otherCalls += 1 }
        guard issued.scope != "GIGACHAT_API_CORP" else {
            return apiError(.forbidden, "Permission denied", request, allocator: allocator)
        }
        let entries: [(String, Int)] = [
            ("GigaChat", 900_000), ("GigaChat-Pro", 100_000), ("GigaChat-Max", 50_000), ("embeddings", 9_999_967),
        ]
        return json(
            .ok,
            .object([
                (
                    "balance",
                    .array(entries.map { .object([("usage", .string($0.0)), ("value", .number(Double($0.1)))]) })
                )
            ]),
            request,
            allocator: allocator
        )
    }
}
