import Foundation
import GigaChatEmulator
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The options of the sockets the emulator accepts, read from the server's side of a live connection.
///
/// Found by the first run of the container image: TCP_NODELAY was asked for at the socket level, where option 1 is
/// SO_DEBUG. Setting SO_DEBUG needs CAP_NET_ADMIN, which root on a host has and a container's process has not, so in
/// the image every accepted connection was closed at once, while every test on the host passed.
@Suite struct EmulatorSocketTests {
    @Test func acceptedConnectionsHaveNagleOffAndNoPrivilegedOption() async throws {
        try await EmulatorTestSupport.withEmulator { emulator in
            let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            #expect(client >= 0)
            defer { close(client) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = UInt16(emulator.port).bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            #expect(connected == 0)
            let clientPort = try #require(SocketInspection.port(of: client, peer: false))

            // The server's end: this process's socket whose peer is the client's port. Options are set on accept,
            // on the event loop, so give it a moment.
            var server: Int32?
            for _ in 0..<200 where server == nil {
                server = SocketInspection.descriptor(peerPort: clientPort, excluding: client) {
                    Int($0) == emulator.port
                }
                if server == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let accepted = try #require(server, "the emulator's end of the connection was not found")
            try await Task.sleep(for: .milliseconds(100))
            #expect(SocketInspection.option(accepted, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) == 1)
            #expect(SocketInspection.option(accepted, level: SOL_SOCKET, name: SO_DEBUG) == 0)
        }
    }
}
