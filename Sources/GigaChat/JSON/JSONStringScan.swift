/// Finds where a JSON string's plain bytes end, eight bytes at a time: the reading of a string literal and the
/// writing of one both copy runs of bytes that need no care, and those runs are most of every prompt and answer.
enum JSONStringScan {
    /// The index of the first byte at or after `start` that a JSON string cannot hold as it is — `"`, `\` or a control
    /// character (below 0x20) — or `bytes.count` when there is none.
    ///
    /// Each 8-byte word is tested at once (the classic "has a zero byte" / "has a byte less than n" bit tricks). A
    /// borrow can only mark bytes after a real match, so the word's first marked byte (the lowest, read little-endian)
    /// is the match: found without a byte loop, which mattered for member names, most shorter than a word. The
    /// tail, under eight bytes, is read byte by byte.
    @inline(__always)
    static func firstSpecialByte(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard let base = bytes.baseAddress else { return start }
        let count = bytes.count
        var index = start
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        while index + 8 <= count {
            let word = UInt64(littleEndian: base.loadUnaligned(fromByteOffset: index, as: UInt64.self))
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let marks =
                ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
            let found = marks & highs
            if found != 0 { return index + found.trailingZeroBitCount / 8 }
            index += 8
        }
        while index < count {
            let byte = base.load(fromByteOffset: index, as: UInt8.self)
            if byte == 0x22 || byte == 0x5C || byte < 0x20 { return index }
            index += 1
        }
        return count
    }
}
