import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// One HTTP/1.1 response parsed from raw bytes, framing kept visible (chunks, completeness) so tests can check
/// the wire format itself rather than what a client library makes of it.
struct RawHTTPResponse {
    var status: Int
    var headers: [(name: String, value: String)]
    /// The body, de-chunked.
    var body: [UInt8]
    /// The payloads of the chunks when the body was chunked.
    var chunks: [[UInt8]]
    var isChunked: Bool
    /// The body's end was framed properly (Content-Length reached, or the terminating zero-size chunk seen).
    var isComplete: Bool

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as JSON (Foundation), for field checks; key order is checked on ``text``.
    func json() throws -> Any {
        try JSONSerialization.jsonObject(with: Data(body), options: [.fragmentsAllowed])
    }
}

/// Bytes received on one connection, with the time each read arrived.
struct RawExchange {
    var bytes: [UInt8]
    var readTimes: [(offset: Int, instant: ContinuousClock.Instant)]
    /// The connection ended with an error (e.g. TLS closed without close_notify) rather than a clean EOF.
    var endedWithError: Bool
}

/// A minimal HTTP/1.1 client for the emulator tests: writes the given request bytes, reads until the server
/// closes the connection, and parses what came back.
enum RawHTTPClient {
    static func request(
        _ method: String,
        _ path: String,
        headers: [(String, String)] = [],
        body: String? = nil,
        close: Bool = true,
        version: String = "HTTP/1.1"
    ) -> [UInt8] {
        var text = "\(method) \(path) \(version)\r\nHost: 127.0.0.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let body { text += "Content-Length: \(body.utf8.count)\r\n" }
        if close { text += "Connection: close\r\n" }
        text += "\r\n"
        if let body { text += body }
        return Array(text.utf8)
    }

    /// - Parameter group: The event loops for the connection; the load tests pass their own so that their
    ///   thousand connections do not delay the reads of tests running alongside on the shared singleton.
    static func exchange(
        port: Int,
        tls: Bool = false,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        _ requestBytes: [UInt8]
    ) async throws -> RawExchange {
        let sslContext: NIOSSLContext? =
            if tls {
                try {
                    var configuration = TLSConfiguration.makeClientConfiguration()
                    configuration.certificateVerification = .none
                    return try NIOSSLContext(configuration: configuration)
                }()
            } else {
                nil
            }
        let channel = try await ClientBootstrap(group: group)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: sslContext, serverHostname: nil)
                        )
                    }
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            try await outbound.write(ByteBuffer(bytes: requestBytes))
            var exchange = RawExchange(bytes: [], readTimes: [], endedWithError: false)
            do {
                for try await chunk in inbound {
                    exchange.readTimes.append((exchange.bytes.count, ContinuousClock.now))
                    exchange.bytes.append(contentsOf: chunk.readableBytesView)
                }
            } catch {
                exchange.endedWithError = true
            }
            return exchange
        }
    }

    /// Opens a connection, sends `requestBytes` and leaves the connection open (whatever comes back is dropped);
    /// the caller closes the returned channel to hang up mid-response.
    static func hold(port: Int, _ requestBytes: [UInt8]) async throws -> any Channel {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port).get()
        try await channel.writeAndFlush(ByteBuffer(bytes: requestBytes))
        return channel
    }

    /// Sends one request (with `Connection: close`) and parses the single response.
    static func send(
        port: Int,
        tls: Bool = false,
        _ method: String,
        _ path: String,
        headers: [(String, String)] = [],
        body: String? = nil
    ) async throws -> RawHTTPResponse {
        let exchange = try await exchange(port: port, tls: tls, request(method, path, headers: headers, body: body))
        let responses = parse(exchange.bytes)
        guard let first = responses.first else { throw RawHTTPError(message: "no response") }
        return first
    }

    /// Parses consecutive responses (keep-alive) from raw bytes; the last may be incomplete.
    static func parse(_ bytes: [UInt8]) -> [RawHTTPResponse] {
        var responses: [RawHTTPResponse] = []
        var index = 0
        while index < bytes.count {
            guard let headerEnd = find([13, 10, 13, 10], in: bytes, from: index) else { break }
            let headText = String(decoding: bytes[index..<headerEnd], as: UTF8.self)
            var lines = headText.components(separatedBy: "\r\n")
            let statusLine = lines.removeFirst().split(separator: " ")
            let status = statusLine.count > 1 ? Int(statusLine[1]) ?? 0 : 0
            let headers = lines.compactMap { line -> (name: String, value: String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (
                    String(line[..<colon]),
                    line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                )
            }
            var response = RawHTTPResponse(
                status: status,
                headers: headers,
                body: [],
                chunks: [],
                isChunked: false,
                isComplete: false
            )
            index = headerEnd + 4
            if (100..<200).contains(status) {
                // An interim response (100 Continue) has no body.
                response.isComplete = true
            } else if response.header("Transfer-Encoding")?.lowercased() == "chunked" {
                response.isChunked = true
                while let lineEnd = find([13, 10], in: bytes, from: index) {
                    let sizeText = String(decoding: bytes[index..<lineEnd], as: UTF8.self)
                    guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16) else { break }
                    let start = lineEnd + 2
                    if size == 0 {
                        response.isComplete = start + 2 <= bytes.count
                        index = start + 2
                        break
                    }
                    guard start + size + 2 <= bytes.count else {
                        index = bytes.count
                        break
                    }
                    response.chunks.append(Array(bytes[start..<(start + size)]))
                    response.body.append(contentsOf: bytes[start..<(start + size)])
                    index = start + size + 2
                }
                if !response.isComplete { index = bytes.count }
            } else if let length = response.header("Content-Length").flatMap({ Int($0) }) {
                let end = min(bytes.count, index + length)
                response.body = Array(bytes[index..<end])
                response.isComplete = end - index == length
                index = end
            } else {
                response.body = Array(bytes[index...])
                response.isComplete = true
                index = bytes.count
            }
            responses.append(response)
        }
        return responses
    }

    private static func find(_ needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for position in start...(haystack.count - needle.count)
        where haystack[position..<(position + needle.count)].elementsEqual(needle) {
            return position
        }
        return nil
    }
}

struct RawHTTPError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
