import Foundation
import Synchronization

@testable import GigaChat

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// An HTTP server that answers every request with a fixed raw response (sent in pieces), then closes.
final class TestScriptedHTTPServer: Sendable {
    private let server: TestTCPServer
    var baseURL: String { "http://127.0.0.1:\(self.server.port)/api/v1" }

    init(pieces: [[UInt8]], pause: Duration = .zero) throws {
        self.server = try TestTCPServer { client in
            guard let (head, rest) = TestTCPServer.readHead(client) else {
                close(client)
                return
            }
            // Read the request body (Content-Length) so the client is never cut while sending.
            let length = TestTCPServer.contentLength(ofHead: head)
            var received = rest.count
            var buffer = [UInt8](repeating: 0, count: 4096)
            while received < length {
                let n = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                if n <= 0 { break }
                received += n
            }
            for piece in pieces {
                if !TestTCPServer.sendAll(client, piece) { break }
                if pause > .zero { Thread.sleep(forTimeInterval: pause.seconds) }
            }
            shutdown(client, Int32(SHUT_RDWR))
            close(client)
        }
    }

    func stop() { self.server.stop() }
}
