#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Reads this process's own TCP sockets from outside the code that opened them: which descriptor is which
/// connection (by its ports), and the options set on it. Tests run in parallel, so a caller names a socket by both
/// of its ports, not by its peer's alone.
public enum SocketInspection {
    /// The first descriptor of an IPv4 TCP socket whose peer port is `peerPort` and whose own port `localPort`
    /// accepts, other than `excluded`.
    public static func descriptor(
        peerPort: UInt16,
        excluding excluded: Int32 = -1,
        localPort: (UInt16) -> Bool
    ) -> Int32? {
        for descriptor: Int32 in 3..<4096 where descriptor != excluded {
            if port(of: descriptor, peer: true) == peerPort, let local = port(of: descriptor, peer: false),
                localPort(local)
            {
                return descriptor
            }
        }
        return nil
    }

    /// The socket's own port (`peer: false`) or its peer's, for an IPv4 socket.
    public static func port(of descriptor: Int32, peer: Bool) -> UInt16? {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let status = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                peer ? getpeername(descriptor, $0, &length) : getsockname(descriptor, $0, &length)
            }
        }
        guard status == 0, address.sin_family == sa_family_t(AF_INET) else { return nil }
        return UInt16(bigEndian: address.sin_port)
    }

    /// An integer socket option, `nil` when it cannot be read.
    public static func option(_ descriptor: Int32, level: Int32, name: Int32) -> Int32? {
        var value: Int32 = -1
        var length = socklen_t(MemoryLayout<Int32>.size)
        return getsockopt(descriptor, level, name, &value, &length) == 0 ? value : nil
    }
}
