import Foundation
import NIOCore
import NIOHTTP1
import Testing

@testable import GigaChat

@Suite("GigaChatError and retry policy")
struct GigaChatErrorTests {
    @Test(arguments: [
        (400, GigaChatError.Code.badRequest, false), (401, .unauthorized, false), (402, .paymentRequired, false),
        (403, .forbidden, false), (404, .notFound, false), (413, .payloadTooLarge, false),
        (422, .unprocessable, false), (429, .rateLimited, true), (500, .server, true), (502, .server, true),
        (503, .server, true), (504, .server, true), (418, .unexpectedStatus, false),
    ])
    func statusMapping(status: Int, code: GigaChatError.Code, retriable: Bool) {
        let body = ByteBuffer(string: #"{"status":\#(status),"message":"server says \#(status)"}"#)
        let error = GigaChatError.fromResponse(status: status, headers: [:], body: body)
        #expect(error.code == code)
        #expect(error.httpStatus == status)
        #expect(error.isRetriable == retriable)
        #expect(error.message == "server says \(status)")
    }

    @Test func oauthErrorBodyAndHeaders() {
        let headers: HTTPHeaders = ["Retry-After": "7", "X-Request-Id": "req-1"]
        let body = ByteBuffer(string: #"{"code":6,"message":"credentials doesn't match db data"}"#)
        let error = GigaChatError.fromResponse(status: 401, headers: headers, body: body)
        #expect(error.code == .unauthorized)
        #expect(error.message.contains("credentials doesn't match db data"))
        #expect(error.message.contains("code 6"))
        #expect(error.retryAfter == .seconds(7))
        #expect(error.requestID == "req-1")
        let plain = GigaChatError.fromResponse(status: 503, headers: [:], body: ByteBuffer(string: "<html>busy</html>"))
        #expect(plain.message == "<html>busy</html>")
        let empty = GigaChatError.fromResponse(status: 502, headers: [:], body: nil)
        #expect(empty.message == "Bad Gateway")
    }

    @Test func retryAfterParsing() {
        #expect(RetryPolicy.parseRetryAfter("1") == .seconds(1))
        #expect(RetryPolicy.parseRetryAfter(" 2.5 ") == .milliseconds(2500))
        let now = Date(timeIntervalSince1970: 784_111_767)  // Sun, 06 Nov 1994 08:49:27 GMT
        #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now: now) == .seconds(10))
        #expect(RetryPolicy.parseRetryAfter("Sun, 06 Nov 1994 08:49:17 GMT", now: now) == .zero)
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        let date = RetryPolicy.parseHTTPDate("Tue, 24 Nov 2026 20:00:00 GMT")
        #expect(date == ISO8601DateFormatter().date(from: "2026-11-24T20:00:00Z"))
    }

    @Test func backoffIsFullJitterCappedAndHonoursRetryAfter() {
        let policy = RetryPolicy(configuration: .init(backoffFactor: .milliseconds(500), maxDelay: .seconds(60)))
        #expect(policy.delay(attempt: 0, retryAfter: nil, random: 1) == .milliseconds(500))
        #expect(policy.delay(attempt: 3, retryAfter: nil, random: 1) == .seconds(4))
        #expect(policy.delay(attempt: 3, retryAfter: nil, random: 0.5) == .seconds(2))
        #expect(policy.delay(attempt: 3, retryAfter: nil, random: 0) == .zero)
        #expect(policy.delay(attempt: 20, retryAfter: nil, random: 1) == .seconds(60))
        #expect(policy.delay(attempt: 0, retryAfter: .seconds(3), random: 0) == .seconds(3))
        #expect(policy.delay(attempt: 0, retryAfter: .seconds(600), random: 0) == .seconds(60))
        var generator = SeededGenerator(seed: 42)
        for attempt in 0..<10 {
            let delay = policy.delay(
                attempt: attempt,
                retryAfter: nil,
                random: Double.random(in: 0...1, using: &generator)
            )
            #expect(delay >= .zero && delay <= .seconds(60))
        }
    }

    @Test func descriptionNamesCodeStatusAndMessage() {
        let error = GigaChatError(
            code: .rateLimited,
            message: "Too many requests",
            httpStatus: 429,
            retryAfter: .seconds(1)
        )
        let text = "\(error)"
        #expect(text.contains("rateLimited") && text.contains("429") && text.contains("Too many requests"))
    }
}
