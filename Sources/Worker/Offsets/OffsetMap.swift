import Foundation

/// The offsets of one partition finished above its committed offset, carried in the commit's metadata so that
/// after a crash, a restart or a reassignment they are not run (and paid for) again (DESIGN.md "Delivery
/// guarantees"; Confluent's Parallel Consumer keeps such a map in the same place).
///
/// The committed offset stays the contiguous watermark, so a reader that ignores the metadata (another client,
/// an older worker, a broker that drops it) loses nothing: it re-runs those jobs, as before.
///
/// Wire form: `gw1:<base>:<bits>`, where `<base>` is the committed offset the map belongs to (a map whose base is
/// not the committed offset read back is ignored: someone else committed since) and `<bits>` is base64 (RFC 4648,
/// no padding) of a bitset, least significant bit first, in which bit *i* says offset `base + 1 + i` is done (the
/// base itself is never done: it is the first offset that is not). Offsets more than ``maximumSpan`` above the base
/// are left out (they will run again), so the string stays under Kafka's default `offset.metadata.max.bytes`
/// (4,096): at most 4 + 20 + 1 + 3,868 characters.
public struct OffsetMap: Sendable, Equatable {
    /// The committed offset the map is relative to.
    public var base: Int64
    /// The offsets above `base` that are done, ascending.
    public private(set) var done: [Int64]

    /// The widest span of offsets above the base that a map records.
    public static let maximumSpan: Int64 = 2_901 * 8
    static let prefix = "gw1:"

    /// A map of the done offsets above `base` (offsets not above it, and those beyond ``maximumSpan``, are left out).
    public init(base: Int64, done: some Sequence<Int64>) {
        self.base = base
        self.done = done.filter { $0 > base && $0 - base <= Self.maximumSpan }.sorted()
    }

    /// Reads a map from committed metadata.
    /// - Returns: `nil` when the metadata is not a map of this format, or belongs to another committed offset.
    public init?(metadata: String?, committedOffset: Int64) {
        guard let metadata, metadata.hasPrefix(Self.prefix) else { return nil }
        let fields = metadata.dropFirst(Self.prefix.count).split(separator: ":", omittingEmptySubsequences: false)
        guard fields.count == 2, let base = Int64(fields[0]), base == committedOffset else { return nil }
        var text = String(fields[1])
        text += String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let bytes = Data(base64Encoded: text), Int64(bytes.count) * 8 <= Self.maximumSpan else { return nil }
        var done: [Int64] = []
        for (index, byte) in bytes.enumerated() where byte != 0 {
            for bit in 0..<8 where byte & (1 << bit) != 0 {
                done.append(base + 1 + Int64(index * 8 + bit))
            }
        }
        self.base = base
        self.done = done
    }

    /// The metadata string; `nil` when nothing above the base is done (a commit without metadata).
    public var metadata: String? {
        guard let last = done.last else { return nil }
        var bytes = [UInt8](repeating: 0, count: Int((last - base - 1) / 8) + 1)
        for offset in done {
            let bit = Int(offset - base - 1)
            bytes[bit / 8] |= 1 << (bit % 8)
        }
        var bits = Data(bytes).base64EncodedString()
        while bits.hasSuffix("=") { bits.removeLast() }
        return "\(Self.prefix)\(base):\(bits)"
    }
}
