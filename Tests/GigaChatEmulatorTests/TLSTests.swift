import Foundation
import GigaChatEmulator
import TestSupport
import Testing

@Suite("HTTPS mode", .timeLimit(.minutes(1)))
struct TLSTests {
    /// A self-signed certificate for 127.0.0.1 made with the openssl command line tool in a fresh directory.
    static func makeCertificate() async throws -> (certificate: String, key: String) {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "emulator-tls-\(UUID().uuidString)"
        )
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificate = directory.appendingPathComponent("cert.pem").path
        let key = directory.appendingPathComponent("key.pem").path
        let result = try await SpawnedProcess.run(
            "openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", certificate,
                "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
            ]
        )
        try #require(result.status == 0, "openssl could not make a test certificate: \(result.stderr)")
        return (certificate, key)
    }

    @Test func servesOAuthAndStreamsOverTLS() async throws {
        let files = try await Self.makeCertificate()
        let configuration = GigaChatEmulatorConfiguration(
            tls: .init(certificateChainPath: files.certificate, privateKeyPath: files.key)
        )
        try await EmulatorTestSupport.withEmulator(configuration) { emulator in
            #expect(emulator.baseURL == "https://127.0.0.1:\(emulator.port)/api/v1")
            #expect(emulator.authURL == "https://127.0.0.1:\(emulator.port)/api/v2/oauth")
            let token = try await EmulatorTestSupport.token(emulator, tls: true)
            let body = try EmulatorTestSupport.chatBody(messages: [("user", "over TLS")], stream: true)
            let response = try await EmulatorTestSupport.chat(emulator, token: token, body: body, tls: true)
            #expect(response.status == 200)
            #expect(response.isComplete)
            #expect(try EmulatorTestSupport.ssePayloads(response.body).last == "[DONE]")

            // Plain HTTP to the TLS port gets no HTTP answer.
            let plain = try? await RawHTTPClient.exchange(
                port: emulator.port,
                RawHTTPClient.request("GET", "/api/v1/models")
            )
            #expect(plain.map { RawHTTPClient.parse($0.bytes).isEmpty } ?? true)
        }
    }

    @Test func failsToStartWithAMissingCertificate() async throws {
        let emulator = GigaChatEmulator(
            configuration: .init(
                tls: .init(certificateChainPath: "/nonexistent/cert.pem", privateKeyPath: "/nonexistent/key.pem")
            )
        )
        await #expect {
            try await emulator.start()
        } throws: { error in
            (error as? GigaChatEmulatorError)?.code == .tlsSetupFailed
        }
    }
}
