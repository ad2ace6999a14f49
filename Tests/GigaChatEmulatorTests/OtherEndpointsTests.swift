import Foundation
import GigaChatEmulator
import Testing

@Suite("Models, tokens, embeddings, balance", .timeLimit(.minutes(1)))
struct OtherEndpointsTests {
    @Test func listsModelsWithTheirTypes() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let response = try await EmulatorTestSupport.get(emulator, token: token, "/api/v1/models")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/json; charset=utf-8")
            #expect(
                response.text.hasPrefix(
                    "{\"object\":\"list\",\"data\":[{\"id\":\"GigaChat\",\"object\":\"model\",\"owned_by\":\"salutedevices\",\"type\":\"chat\"},"
                )
            )
            let json = try EmulatorTestSupport.object(response.text)
            let data = try #require(json["data"] as? [[String: String]])
            #expect(data.map { $0["id"] ?? "" } == GigaChatEmulatorConfiguration.defaultModels)
            #expect(data.first { $0["id"] == "Embeddings" }?["type"] == "embedder")
            #expect(data.first { $0["id"] == "GigaCheckDetection" }?["type"] == "aicheck")
            #expect(data.first { $0["id"] == "GigaFilter" }?["type"] == "filter")
            #expect(data.first { $0["id"] == "GigaChat-2-Max" }?["type"] == "chat")
            #expect(data.first { $0["id"] == "GigaChat-3-Ultra" }?["type"] == "chat")
        }
    }

    @Test func getsOneModelOr404() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let found = try await EmulatorTestSupport.get(emulator, token: token, "/api/v1/models/GigaChat-2-Pro")
            #expect(found.status == 200)
            #expect(
                found.text
                    == "{\"id\":\"GigaChat-2-Pro\",\"object\":\"model\",\"owned_by\":\"salutedevices\",\"type\":\"chat\"}"
            )
            let missing = try await EmulatorTestSupport.get(emulator, token: token, "/api/v1/models/NonExistentModel")
            #expect(missing.status == 404)
            #expect(missing.text == "{\"status\":404,\"message\":\"No such model\"}\n")
            #expect(missing.header("Content-Length") == "41")
        }
    }

    @Test func countsTokensPerInput() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let response = try await EmulatorTestSupport.post(
                emulator,
                token: token,
                "/api/v1/tokens/count",
                body: #"{"model": "GigaChat", "input": ["First text", "Second text", "Привет"]}"#
            )
            #expect(response.status == 200)
            #expect(
                response.text
                    == "[{\"object\":\"tokens\",\"tokens\":2,\"characters\":10},{\"object\":\"tokens\",\"tokens\":2,\"characters\":11},{\"object\":\"tokens\",\"tokens\":1,\"characters\":6}]"
            )
        }
    }

    @Test func embedsDeterministically() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            let body = #"{"input": ["Hello, world!", "Другой текст"], "model": "Embeddings"}"#
            let first = try await EmulatorTestSupport.post(emulator, token: token, "/api/v1/embeddings", body: body)
            let second = try await EmulatorTestSupport.post(emulator, token: token, "/api/v1/embeddings", body: body)
            #expect(first.status == 200)
            #expect(first.text == second.text)
            #expect(
                first.text.hasPrefix(
                    "{\"object\":\"list\",\"model\":\"Embeddings\",\"data\":[{\"object\":\"embedding\",\"index\":0,\"embedding\":["
                )
            )
            let json = try EmulatorTestSupport.object(first.text)
            let data = try #require(json["data"] as? [[String: Any]])
            #expect(data.count == 2)
            let vectors = try data.map { try #require($0["embedding"] as? [Double]) }
            #expect(vectors.allSatisfy { $0.count == 1024 })
            #expect(vectors[0] != vectors[1])
            #expect(vectors.joined().allSatisfy { (-2.0...2.0).contains($0) })
            #expect((data[0]["usage"] as? [String: Int])?["prompt_tokens"] == 2)

            let wrongModel = try await EmulatorTestSupport.post(
                emulator,
                token: token,
                "/api/v1/embeddings",
                body: #"{"input": ["x"], "model": "GigaChat"}"#
            )
            #expect(wrongModel.status == 404)
        }
    }

    @Test func reportsBalanceExceptForPayAsYouGo() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let prepaid = try await EmulatorTestSupport.token(emulator, scope: "GIGACHAT_API_B2B")
            let response = try await EmulatorTestSupport.get(emulator, token: prepaid, "/api/v1/balance")
            #expect(response.status == 200)
            #expect(response.text.hasPrefix("{\"balance\":[{\"usage\":\"GigaChat\",\"value\":"))
            let postpaid = try await EmulatorTestSupport.token(emulator, scope: "GIGACHAT_API_CORP")
            let denied = try await EmulatorTestSupport.get(emulator, token: postpaid, "/api/v1/balance")
            #expect(denied.status == 403)
            #expect(denied.text == "{\"status\":403,\"message\":\"Permission denied\"}\n")
        }
    }

    @Test func unknownPathsAndMethods() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let token = try await EmulatorTestSupport.token(emulator)
            #expect(try await EmulatorTestSupport.get(emulator, token: token, "/api/v1/nothing").status == 404)
            #expect(try await EmulatorTestSupport.get(emulator, token: token, "/api/v1/chat/completions").status == 405)
        }
    }
}
