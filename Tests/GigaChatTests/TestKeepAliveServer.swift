import Foundation
import Synchronization

@testable import GigaChat

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTTP/1.1 server for the transport's tests: it answers request after request on each connection (keep-alive)
/// with what `answer` says, and counts connections and the most requests in flight at once.
final class TestKeepAliveServer: Sendable {
    /// What to do with one request: the raw answer, a pause before it, and whether to close the connection after it.
    struct Answer: Sendable {
        var bytes: [UInt8]
        var delay: Duration = .zero
        var closeAfter = false

        static func ok(_ body: String, headers: String = "", after delay: Duration = .zero) -> Answer {
            Answer(
                bytes: Array("HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\(headers)\r\n\(body)".utf8),
                delay: delay
            )
        }
    }

    private let server: TestTCPServer
    private final class Counts: Sendable {
        let value = Mutex<(connections: Int, inFlight: Int, maxInFlight: Int, requests: Int)>((0, 0, 0, 0))
        let bodies = Mutex<[[UInt8]]>([])
        func withLock<T>(_ body: (inout (connections: Int, inFlight: Int, maxInFlight: Int, requests: Int)) -> T) -> T {
            self.value.withLock { body(&$0) }
        }
    }

    private let counts = Counts()
    var baseURL: String { "http://127.0.0.1:\(self.server.port)" }
    var origin: HTTP1Origin { HTTP1Origin(tls: false, host: "127.0.0.1", port: self.server.port) }
    var connections: Int { self.counts.withLock { $0.connections } }
    var requests: Int { self.counts.withLock { $0.requests } }
    var maxInFlight: Int { self.counts.withLock { $0.maxInFlight } }

    /// The bodies of the requests read so far, in order.
    var bodies: [[UInt8]] { self.counts.bodies.withLock { $0 } }

    /// - Parameter answer: Called with the request's head (request line and headers) and its number (from 0).
    init(answer: @escaping @Sendable (_ head: String, _ index: Int) -> Answer) throws {
        let counts = self.counts
        self.server = try TestTCPServer { client in
            counts.withLock { $0.connections += 1 }
            defer { close(client) }
            var pending: [UInt8] = []
            while true {
                guard let (head, body, rest) = Self.readRequest(client, pending: &pending) else { return }
                pending = rest
                counts.bodies.withLock { $0.append(body) }
                let index = counts.withLock { counts -> Int in
                    counts.requests += 1
                    counts.inFlight += 1
                    counts.maxInFlight = max(counts.maxInFlight, counts.inFlight)
                    return counts.requests - 1
                }
                let reply = answer(head, index)
                if reply.delay > .zero { Thread.sleep(forTimeInterval: reply.delay.seconds) }
                counts.withLock { $0.inFlight -= 1 }
                guard TestTCPServer.sendAll(client, reply.bytes), !reply.closeAfter else {
                    shutdown(client, Int32(SHUT_RDWR))
                    return
                }
            }
        }
    }

    func stop() { self.server.stop() }

    /// Reads one request (head and `Content-Length` body); `pending` holds bytes read past the previous one.
    private static func readRequest(
        _ fd: Int32,
        pending: inout [UInt8]
    ) -> (head: String, body: [UInt8], rest: [UInt8])? {
        var data = pending
        var buffer = [UInt8](repeating: 0, count: 4096)
        func more() -> Bool {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return false }
            data.append(contentsOf: buffer[0..<n])
            return true
        }
        var end = TestTCPServer.find([13, 10, 13, 10], in: data)
        while end == nil {
            guard more() else { return nil }
            end = TestTCPServer.find([13, 10, 13, 10], in: data)
        }
        let head = String(decoding: data[0..<end!], as: UTF8.self)
        let length = TestTCPServer.contentLength(ofHead: head)
        let bodyStart = end! + 4
        while data.count < bodyStart + length {
            guard more() else { return nil }
        }
        return (head, Array(data[bodyStart..<(bodyStart + length)]), Array(data[(bodyStart + length)...]))
    }
}
