import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Version-4 UUIDs from a buffer of the system's random bytes, refilled 4 KiB (256 UUIDs) at a time.
///
/// Why (issue 17): `UUID()` opens, reads and closes `/dev/urandom` for each UUID — three system calls for every
/// attempt's id, seen as one `openat` per job under `strace`. The bytes are the same kernel randomness, read once
/// per 256. (A process that forked would hand its child the unused bytes too, and both would make the same UUIDs;
/// the worker does not fork.)
public enum BufferedRandom {
    private struct Pool {
        var bytes = [UInt8](repeating: 0, count: 4096)
        var next = 4096
    }

    private static let pool = Mutex(Pool())

    /// A random (version 4, variant 1) UUID.
    public static func uuid() -> UUID {
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { target in
            pool.withLock { pool in
                if pool.next + 16 > pool.bytes.count {
                    pool.bytes.withUnsafeMutableBytes(Self.fill)
                    pool.next = 0
                }
                pool.bytes.withUnsafeBytes { source in
                    target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[pool.next..<(pool.next + 16)]))
                }
                pool.next += 16
            }
        }
        uuid.6 = (uuid.6 & 0x0F) | 0x40
        uuid.8 = (uuid.8 & 0x3F) | 0x80
        return UUID(uuid: uuid)
    }

    /// Fills `buffer` from `/dev/urandom`; where that cannot be read, from the standard library's generator.
    private static func fill(_ buffer: UnsafeMutableRawBufferPointer) {
        var filled = 0
        let descriptor = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        if descriptor >= 0 {
            defer { close(descriptor) }
            while filled < buffer.count {
                let count = read(descriptor, buffer.baseAddress! + filled, buffer.count - filled)
                if count > 0 {
                    filled += count
                } else if count < 0 && errno == EINTR {
                    continue
                } else {
                    break
                }
            }
        }
        var generator = SystemRandomNumberGenerator()
        while filled < buffer.count {
            let word = generator.next()
            withUnsafeBytes(of: word) { bytes in
                let count = min(bytes.count, buffer.count - filled)
                (buffer.baseAddress! + filled).copyMemory(from: bytes.baseAddress!, byteCount: count)
                filled += count
            }
        }
    }
}
