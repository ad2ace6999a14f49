import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A minimal Kafka client that sends one Metadata v0 request over a plain socket: the harness's readiness check,
/// independent of the library under test.
enum KafkaProbe {
    /// Whether 127.0.0.1:`port` accepts a connection and answers Metadata listing itself as broker 127.0.0.1:`port`.
    static func answersMetadata(port: Int, timeout: Duration = .seconds(1)) async -> Bool {
        // Blocking socket calls stay off the cooperative pool.
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(returning: probe(port: port, timeout: timeout))
            }
        }
    }

    private static func probe(port: Int, timeout: Duration) -> Bool {
        let fd = socket(AF_INET, Int32(socketStreamType), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let seconds = timeout.components.seconds
        var interval = timeval(tv_sec: Int(seconds), tv_usec: Int(timeout.components.attoseconds / 1_000_000_000_000))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &interval, socklen_t(MemoryLayout<timeval>.size))
        var address = loopbackAddress(port: UInt16(port))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }

        let correlationID: Int32 = 0x4B50
        let clientID = Array("kafka-probe".utf8)
        var body: [UInt8] = []
        body.appendBigEndian(Int16(3))  // api_key: Metadata
        body.appendBigEndian(Int16(0))  // api_version
        body.appendBigEndian(correlationID)
        body.appendBigEndian(Int16(clientID.count))
        body += clientID
        body.appendBigEndian(Int32(0))  // topics: empty array = all topics in v0
        var request: [UInt8] = []
        request.appendBigEndian(Int32(body.count))
        request += body
        guard send(fd, request, request.count, 0) == request.count else { return false }

        guard let sizeBytes = receive(fd, count: 4) else { return false }
        let size = Int(sizeBytes.readBigEndianInt32(at: 0))
        guard size >= 8, size < 1 << 20, let response = receive(fd, count: size) else { return false }
        guard response.readBigEndianInt32(at: 0) == correlationID else { return false }
        // brokers: [node_id int32, host string, port int32]
        let brokerCount = Int(response.readBigEndianInt32(at: 4))
        var cursor = 8
        for _ in 0..<max(0, min(brokerCount, 64)) {
            guard cursor + 6 <= response.count else { return false }
            let hostLength = Int(Int16(bitPattern: UInt16(response[cursor + 4]) << 8 | UInt16(response[cursor + 5])))
            cursor += 6
            guard hostLength >= 0, cursor + hostLength + 4 <= response.count else { return false }
            let host = String(decoding: response[cursor..<cursor + hostLength], as: UTF8.self)
            cursor += hostLength
            let brokerPort = Int(response.readBigEndianInt32(at: cursor))
            cursor += 4
            if host == "127.0.0.1", brokerPort == port {
                return true
            }
        }
        return false
    }

    private static func receive(_ fd: Int32, count: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let read = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + filled, count - filled, 0) }
            guard read > 0 else { return nil }
            filled += read
        }
        return buffer
    }
}

extension [UInt8] {
    fileprivate mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value.bigEndian) { append(contentsOf: $0) }
    }

    fileprivate func readBigEndianInt32(at index: Int) -> Int32 {
        guard index + 4 <= count else { return -1 }
        return Int32(
            bitPattern: UInt32(self[index]) << 24 | UInt32(self[index + 1]) << 16
                | UInt32(self[index + 2]) << 8 | UInt32(self[index + 3])
        )
    }
}
