import Foundation
import Testing

@testable import GigaChat

@Suite("TLS")
struct TLSTests {
    @Test func builtInRootHasTheKnownFingerprint() throws {
        let base64 = RussianTrustedRootCA.pem.split(separator: "\n")
            .filter { !$0.hasPrefix("-----") }
            .joined()
        let der = try #require(Data(base64Encoded: base64))
        let fingerprint = SHA256.hash(Array(der)).map { String(format: "%02X", $0) }.joined(separator: ":")
        #expect(
            fingerprint
                == "D2:6D:2D:02:31:B7:C3:9F:92:CC:73:85:12:BA:54:10:35:19:E4:40:5D:68:B5:BD:70:3E:97:88:CA:8E:CF:31"
        )
        #expect(fingerprint == RussianTrustedRootCA.sha256Fingerprint)
    }

    @Test func sha256MatchesKnownVector() {
        let digest = SHA256.hash(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test func clientCertificateWithEncryptedKeyLoads() throws {
        let tls = GigaChatConfiguration.TLS(
            caBundleFile: try Fixtures.path("tls/ca.pem"),
            certificateFile: try Fixtures.path("tls/client.pem"),
            keyFile: try Fixtures.path("tls/client.key"),
            keyFilePassword: "test-key-password"
        )
        let configuration = try tls.makeTLSConfiguration()
        #expect(configuration.certificateChain.count == 1)
        #expect(configuration.privateKey != nil)
        // The built-in root and the bundle are both added to the system roots.
        #expect(configuration.additionalTrustRoots.count == 2)
    }

    @Test func wrongKeyPasswordIsAConfigurationErrorWithoutThePassword() throws {
        let tls = GigaChatConfiguration.TLS(
            certificateFile: try Fixtures.path("tls/client.pem"),
            keyFile: try Fixtures.path("tls/client.key"),
            keyFilePassword: "wrong-password-123"
        )
        let error = #expect(throws: GigaChatError.self) { try tls.makeTLSConfiguration() }
        #expect(error?.code == .configuration)
        #expect(error.map { "\($0)".contains("wrong-password-123") } == false)
    }

    @Test func missingCABundleFails() {
        let tls = GigaChatConfiguration.TLS(caBundleFile: "/nonexistent/ca.pem")
        let error = #expect(throws: GigaChatError.self) { try tls.makeTLSConfiguration() }
        #expect(error?.code == .configuration)
    }

    @Test func verificationOffOnlyWithoutCABundle() throws {
        let off = try GigaChatConfiguration.TLS(verifyCertificates: false).makeTLSConfiguration()
        #expect(off.certificateVerification == .none)
        let bundle = try GigaChatConfiguration.TLS(
            verifyCertificates: false,
            caBundleFile: try Fixtures.path("tls/ca.pem")
        )
        .makeTLSConfiguration()
        #expect(bundle.certificateVerification == .fullVerification)
        #expect(try GigaChatConfiguration.TLS().makeTLSConfiguration().certificateVerification == .fullVerification)
    }
}
