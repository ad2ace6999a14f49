import Foundation
import Testing

@testable import GigaChat

@Suite struct UtilitiesTests {
    @Test func aUUIDsLowercasedStringIsItsUUIDStringLowercased() throws {
        let fixed = try #require(UUID(uuidString: "E621E1F8-C36C-495A-93FC-0C247A3E6E5F"))
        #expect(fixed.lowercasedString == "e621e1f8-c36c-495a-93fc-0c247a3e6e5f")
        for _ in 0..<100 {
            let uuid = UUID()
            #expect(uuid.lowercasedString == uuid.uuidString.lowercased())
        }
    }

    /// UUIDs from the buffered random bytes are version 4, variant 1, and all different, across refills of the
    /// buffer (256 UUIDs each).
    @Test func bufferedRandomUUIDsAreVersion4AndDistinct() {
        let uuids = (0..<1000).map { _ in BufferedRandom.uuid() }
        #expect(Set(uuids).count == uuids.count)
        for uuid in uuids {
            #expect(uuid.uuid.6 >> 4 == 4)
            #expect(uuid.uuid.8 >> 6 == 0b10)
        }
        // Not all zero: the bytes came from somewhere.
        #expect(uuids.contains { $0.uuid.0 != 0 })
    }

    /// The word-at-a-time check for control characters in header values finds what a byte loop finds, wherever
    /// the character stands (tab is allowed).
    @Test func controlCharactersAreFoundWhereverTheyStand() {
        func byByte(_ bytes: [UInt8]) -> Bool { bytes.contains { ($0 < 0x20 && $0 != 0x09) || $0 == 0x7F } }
        let plain = Array("Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.payload-with-some-length_and~more".utf8)
        #expect(!plain.withUnsafeBufferPointer(GigaChatClient.holdsControlCharacter))
        for special: UInt8 in [0x00, 0x09, 0x0A, 0x0D, 0x1B, 0x1F, 0x20, 0x7E, 0x7F, 0x80, 0xFF] {
            for position in 0..<plain.count {
                var bytes = plain
                bytes[position] = special
                #expect(bytes.withUnsafeBufferPointer(GigaChatClient.holdsControlCharacter) == byByte(bytes))
            }
        }
    }
}
