import Foundation
import Testing

@testable import GigaChat

@Suite("GigaChatConfiguration")
struct GigaChatConfigurationTests {
    @Test func defaultsFollowTheSDKWhereSound() {
        let configuration = GigaChatConfiguration()
        #expect(configuration.baseURL == "https://gigachat.devices.sberbank.ru/api/v1")
        #expect(configuration.authURL == "https://ngw.devices.sberbank.ru:9443/api/v2/oauth")
        #expect(configuration.scope == "GIGACHAT_API_PERS")
        #expect(configuration.model == "GigaChat")
        #expect(configuration.tls.verifyCertificates)
        #expect(configuration.tls.trustRussianRootCA)
        #expect(configuration.retry.maxRetries == 3)
        #expect(configuration.retry.maxDelay == .seconds(60))
        #expect(configuration.timeouts.connect == .seconds(10))
        #expect(configuration.timeouts.idle >= .seconds(60))
        #expect(configuration.timeouts.deadline == nil)
        #expect(configuration.tokenExpiryBuffer == .seconds(60))
    }

    @Test func readsTheSDKEnvironment() throws {
        let configuration = try GigaChatConfiguration.fromEnvironment([
            "GIGACHAT_CREDENTIALS": "Y2xpZW50OnNlY3JldA==",
            "GIGACHAT_SCOPE": "GIGACHAT_API_CORP",
            "GIGACHAT_ACCESS_TOKEN": "tok-123",
            "GIGACHAT_USER": "alice",
            "GIGACHAT_PASSWORD": "pw-456",
            "GIGACHAT_BASE_URL": "https://example.test/api/v1",
            "GIGACHAT_AUTH_URL": "https://auth.example.test/api/v2/oauth",
            "GIGACHAT_MODEL": "GigaChat-2-Max",
            "GIGACHAT_TIMEOUT": "90.5",
            "GIGACHAT_VERIFY_SSL_CERTS": "False",
            "GIGACHAT_CA_BUNDLE_FILE": "/etc/ca.pem",
            "GIGACHAT_CERT_FILE": "/etc/c.pem",
            "GIGACHAT_KEY_FILE": "/etc/k.pem",
            "GIGACHAT_KEY_FILE_PASSWORD": "kp-789",
            "GIGACHAT_MAX_CONNECTIONS": "7",
            "GIGACHAT_MAX_RETRIES": "0",
            "GIGACHAT_RETRY_BACKOFF_FACTOR": "0.25",
            "GIGACHAT_TOKEN_EXPIRY_BUFFER_MS": "5000",
            "GIGACHAT_PROFANITY_CHECK": "true",
            "GIGACHAT_FLAGS": "a, b",
        ])
        #expect(configuration.credentials == "Y2xpZW50OnNlY3JldA==")
        #expect(configuration.scope == "GIGACHAT_API_CORP")
        #expect(configuration.accessToken == "tok-123")
        #expect(configuration.user == "alice")
        #expect(configuration.password == "pw-456")
        #expect(configuration.baseURL == "https://example.test/api/v1")
        #expect(configuration.authURL == "https://auth.example.test/api/v2/oauth")
        #expect(configuration.model == "GigaChat-2-Max")
        #expect(configuration.timeouts.idle == .milliseconds(90_500))
        #expect(configuration.tls.verifyCertificates == false)
        #expect(configuration.tls.caBundleFile == "/etc/ca.pem")
        #expect(configuration.tls.certificateFile == "/etc/c.pem")
        #expect(configuration.tls.keyFile == "/etc/k.pem")
        #expect(configuration.tls.keyFilePassword == "kp-789")
        #expect(configuration.maxConnections == 7)
        #expect(configuration.retry.maxRetries == 0)
        #expect(configuration.retry.backoffFactor == .milliseconds(250))
        #expect(configuration.tokenExpiryBuffer == .milliseconds(5000))
        #expect(configuration.profanityCheck == true)
        #expect(configuration.flags == ["a", "b"])
    }

    @Test func rejectsUnparsableValues() {
        for (name, value) in [
            ("GIGACHAT_VERIFY_SSL_CERTS", "maybe"), ("GIGACHAT_MAX_RETRIES", "three"), ("GIGACHAT_TIMEOUT", "-1"),
        ] {
            #expect(throws: GigaChatError.self) { try GigaChatConfiguration.fromEnvironment([name: value]) }
        }
    }

    @Test func descriptionRedactsSecrets() throws {
        var configuration = try GigaChatConfiguration.fromEnvironment([
            "GIGACHAT_CREDENTIALS": "c3VwZXItc2VjcmV0LWtleQ==", "GIGACHAT_ACCESS_TOKEN": "access-token-xyz",
            "GIGACHAT_PASSWORD": "pass-word-abc", "GIGACHAT_KEY_FILE_PASSWORD": "key-pass-def",
            "GIGACHAT_PROXY": "http://puser:proxy-secret@proxy.test:8080",
        ])
        configuration.user = "bob"
        let text = "\(configuration)"
        for secret in ["c3VwZXItc2VjcmV0LWtleQ==", "access-token-xyz", "pass-word-abc", "key-pass-def", "proxy-secret"]
        {
            #expect(!text.contains(secret), "\(secret) leaked")
        }
        #expect(text.contains("<redacted>"))
        #expect(text.contains("proxy.test:8080"))
    }

    @Test func proxySelection() throws {
        let explicit = try GigaChatConfiguration.fromEnvironment([
            "GIGACHAT_PROXY": "http://u:p%40ss@10.0.0.1:3129", "HTTPS_PROXY": "http://other:1",
        ])
        #expect(explicit.proxy == .init(host: "10.0.0.1", port: 3129, user: "u", password: "p@ss"))

        let https = try GigaChatConfiguration.fromEnvironment(["HTTPS_PROXY": "proxy.corp:8080", "HTTP_PROXY": "x:1"])
        #expect(https.proxy == .init(host: "proxy.corp", port: 8080))

        let http = try GigaChatConfiguration.fromEnvironment([
            "GIGACHAT_BASE_URL": "http://127.0.0.1:9/api/v1", "HTTPS_PROXY": "a:1", "http_proxy": "http://b:2",
        ])
        #expect(http.proxy == .init(host: "b", port: 2))

        let bypassed = try GigaChatConfiguration.fromEnvironment([
            "HTTPS_PROXY": "proxy.corp:8080", "NO_PROXY": "localhost,.sberbank.ru",
        ])
        #expect(bypassed.proxy == nil)

        let disabled = try GigaChatConfiguration.fromEnvironment(["GIGACHAT_PROXY": "", "HTTPS_PROXY": "a:1"])
        #expect(disabled.proxy == nil)

        #expect(throws: GigaChatError.self) {
            try GigaChatConfiguration.fromEnvironment(["GIGACHAT_PROXY": "socks5://a:1"])
        }
    }

    @Test func validationNeedsSomeAuthentication() {
        #expect(throws: GigaChatError.self) { try GigaChatConfiguration().validate() }
        #expect(throws: Never.self) { try GigaChatConfiguration(credentials: "a2V5").validate() }
        #expect(throws: Never.self) { try GigaChatConfiguration(user: "u", password: "p").validate() }
        var halfCert = GigaChatConfiguration(accessToken: "t")
        halfCert.tls.certificateFile = "/x.pem"
        #expect(throws: GigaChatError.self) { try halfCert.validate() }
    }
}
