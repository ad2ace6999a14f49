import Foundation
import GigaChatEmulator
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
            let clientPort = try #require(Self.localPort(of: client))

            // The server's end: this process's socket whose peer is the client's port. Options are set on accept,
            // on the event loop, so give it a moment.
            var server: Int32?
            for _ in 0..<200 where server == nil {
                server = Self.descriptor(withPeerPort: clientPort, localPort: UInt16(emulator.port), excluding: client)
                if server == nil { try await Task.sleep(for: .milliseconds(10)) }
            }
            let accepted = try #require(server, "the emulator's end of the connection was not found")
            try await Task.sleep(for: .milliseconds(100))
            #expect(Self.option(accepted, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) == 1)
            #expect(Self.option(accepted, level: SOL_SOCKET, name: SO_DEBUG) == 0)
        }
    }

    private static func localPort(of descriptor: Int32) -> UInt16? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return status == 0 ? UInt16(bigEndian: address.sin_port) : nil
    }

    /// The socket whose peer is `port` and whose own port is `localPort` (the emulator's): other tests run at the
    /// same time, and a socket of theirs may have a peer of the same port number.
    private static func descriptor(withPeerPort port: UInt16, localPort: UInt16, excluding excluded: Int32) -> Int32? {
        for descriptor: Int32 in 3..<4096 where descriptor != excluded {
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let status = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(descriptor, $0, &length) }
            }
            if status == 0, address.sin_family == sa_family_t(AF_INET), UInt16(bigEndian: address.sin_port) == port,
                Self.localPort(of: descriptor) == localPort
            {
                return descriptor
            }
        }
        return nil
    }

    private static func option(_ descriptor: Int32, level: Int32, name: Int32) -> Int32? {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, level, name, &value, &length) == 0 ? value : nil
    }
}
