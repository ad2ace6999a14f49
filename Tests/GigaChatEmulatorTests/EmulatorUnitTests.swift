import Foundation
import Testing

@testable import GigaChatEmulator

@Suite("Emulator building blocks")
struct EmulatorUnitTests {
    @Test func jsonRoundTripsAndKeepsKeyOrderAndUTF8() throws {
        let text = #"{"b":1,"a":[true,false,null,-2.5,1e3],"c":"Привет \"мир\"\n\t\u0001 \ud83d\ude00"}"#
        let value = try EmulatorJSON.parse(text)
        #expect(value.objectValue?.map(\.0) == ["b", "a", "c"])
        #expect(value["c"]?.stringValue == "Привет \"мир\"\n\t\u{1} 😀")
        #expect(value.serialized == #"{"b":1,"a":[true,false,null,-2.5,1000],"c":"Привет \"мир\"\n\t\u0001 😀"}"#)
        #expect(try EmulatorJSON.parse(value.serialized) == value)
    }

    @Test(arguments: [#"{"a":}"#, "[1,]", #"{"a":1"#, "01", #""\x""#, "nul", #"{"a":1} x"#, #""\ud800""#])
    func jsonRejectsMalformedInput(_ text: String) {
        #expect(throws: EmulatorJSON.ParseError.self) { try EmulatorJSON.parse(text) }
    }

    @Test func streamPiecesJoinBackToTheText() {
        for text in ["", "one", "  lead and trail  ", "a\nb  c\t\td", "Echo: Привет\nОтвет — 2."] {
            #expect(GigaChatEmulator.streamPieces(of: text).joined() == text)
        }
        #expect(GigaChatEmulator.streamPieces(of: "a b  c") == ["a ", "b  ", "c"])
        #expect(GigaChatEmulator.chunks(of: "a b c d e", count: 2) == ["a b c ", "d e"])
        #expect(GigaChatEmulator.chunks(of: "", count: nil) == [""])
    }

    @Test func truncationKeepsWholeWords() {
        #expect(GigaChatEmulator.truncated("one two three four", toTokens: 2) == "one two")
        #expect(GigaChatEmulator.truncated("one two", toTokens: 5) == "one two")
        #expect(GigaChatEmulator.tokenCount(of: "  one\ntwo  three ") == 3)
    }

    @Test func answerEchoesTheLastUserMessage() {
        let answer = GigaChatEmulator.answer(
            for: [
                (role: "user", content: "first"), (role: "assistant", content: "x"),
                (role: "user", content: "second one"),
            ],
            model: "GigaChat"
        )
        #expect(answer == "Echo: second one\nОтвет эмулятора: слов в запросе — 2.")
    }

    @Test func invalidConfigurationIsRejectedAtStart() async {
        let emulator = GigaChatEmulator(configuration: .init(faults: .init(rateLimitedRate: 2)))
        await #expect {
            try await emulator.start()
        } throws: { error in
            (error as? GigaChatEmulatorError)?.code == .invalidConfiguration
        }
    }

    @Test func formFieldsAreDecoded() {
        #expect(
            EmulatorRouter.formFields("scope=GIGACHAT_API_PERS&x=a+b%21") == [
                "scope": "GIGACHAT_API_PERS", "x": "a b!",
            ]
        )
    }

    @Test func stableUUIDLooksLikeAVersion4UUID() {
        let id = GigaChatEmulator.stableUUID("abc")
        #expect(UUID(uuidString: id) != nil)
        #expect(id == GigaChatEmulator.stableUUID("abc"))
        #expect(id != GigaChatEmulator.stableUUID("abd"))
    }
}
