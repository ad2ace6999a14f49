import Foundation
import Synchronization

@testable import GigaChat

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal HTTP `CONNECT` proxy (what AsyncHTTPClient speaks to proxies) that records the targets it tunnels to.
final class TestConnectProxy: Sendable {
    let targets = Mutex<[String]>([])
    private let server = Mutex<TestTCPServer?>(nil)

    var port: Int { self.server.withLock { $0!.port } }

    init() throws {
        let server = try TestTCPServer { [self] client in self.serve(client) }
        self.server.withLock { $0 = server }
    }

    func stop() { self.server.withLock { $0?.stop() } }

    private func serve(_ client: Int32) {
        guard let (head, rest) = TestTCPServer.readHead(client) else {
            close(client)
            return
        }
        let requestLine = head.split(separator: "\r\n").first.map(String.init) ?? ""
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3, parts[0] == "CONNECT", let colon = parts[1].lastIndex(of: ":"),
            let port = Int(parts[1][parts[1].index(after: colon)...])
        else {
            _ = TestTCPServer.sendAll(
                client,
                Array("HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n".utf8)
            )
            close(client)
            return
        }
        let host = String(parts[1][..<colon])
        self.targets.withLock { $0.append("\(host):\(port)") }
        guard let upstream = TestTCPServer.connectTo(host: host, port: port) else {
            _ = TestTCPServer.sendAll(client, Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n".utf8))
            close(client)
            return
        }
        _ = TestTCPServer.sendAll(client, Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8))
        if !rest.isEmpty { _ = TestTCPServer.sendAll(upstream, rest) }
        let done = Atomic<Int>(0)
        let pump: @Sendable (Int32, Int32) -> Void = { from, to in
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
                if n <= 0 || !TestTCPServer.sendAll(to, Array(buffer[0..<n])) { break }
            }
            shutdown(to, Int32(SHUT_WR))
            if done.add(1, ordering: .acquiringAndReleasing).newValue == 2 {
                close(client)
                close(upstream)
            }
        }
        Thread.detachNewThread { pump(upstream, client) }
        pump(client, upstream)
    }
}
