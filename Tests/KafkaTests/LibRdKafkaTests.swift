import Testing

@testable import Kafka

@Suite struct LibRdKafkaTests {
    @Test func loadedLibraryPassesTheVersionCheck() throws {
        #expect(LibRdKafka.versionString.hasPrefix("2."))
        #expect(LibRdKafka.version >= 0x0202_00ff)
        try LibRdKafka.checkMinimumVersion()
    }

    @Test func refusesLibrariesOlderThan2_2WithAnInstruction() {
        let error = #expect(throws: KafkaError.self) { try LibRdKafka.checkMinimumVersion(0x0200_02ff) }
        #expect(error?.code == .libraryVersion)
        #expect(error?.message.contains("2.0.2") == true)
        #expect(error?.message.contains("scripts/bootstrap.sh") == true)
        #expect(error?.message.contains("make setup") == true)
    }

    @Test func acceptsExactly2_2AndNewer() throws {
        try LibRdKafka.checkMinimumVersion(0x0202_00ff)
        try LibRdKafka.checkMinimumVersion(0x0208_00ff)
        try LibRdKafka.checkMinimumVersion(0x0300_00ff)
        #expect(throws: KafkaError.self) { try LibRdKafka.checkMinimumVersion(0x0202_0000) }  // a 2.2.0 pre-release
        #expect(throws: KafkaError.self) { try LibRdKafka.checkMinimumVersion(0x0201_00ff) }  // 2.1: drops stored metadata
    }
}
