import Foundation
import GigaChatEmulator
import NIOCore
import Testing

@testable import GigaChat

/// Documents and images as files: upload, list, get, delete, the limits, and chats that attach them.
@Suite("GigaChat files", .timeLimit(.minutes(1)))
struct FilesTests {
    @Test func uploadListGetAndDeleteAFile() async throws {
        try await EmulatorHarness.run { emulator, client, _ in
            let contents = Array("Договор поставки № 7\nСтороны: ООО «Ромашка» и ИП Иванов.".utf8)
            let file = try await client.uploadFile(contents, filename: "dir/contract.txt")
            #expect(file.filename == "contract.txt" && file.bytes == contents.count && file.purpose == "general")
            #expect(file.accessPolicy == "private" && !file.id.isEmpty)
            #expect(try await client.files().map(\.id) == [file.id])
            #expect(try await client.file(id: file.id) == file)
            #expect(try await client.deleteFile(id: file.id))
            #expect(try await client.files().isEmpty)
            let gone = await #expect(throws: GigaChatError.self) { try await client.file(id: file.id) }
            #expect(gone?.httpStatus == 404)
            #expect(emulator.counters.uploadedFiles == 1 && emulator.counters.deletedFiles == 1)
        }
    }

    @Test func typesAndSizesAreCheckedBeforeUploadAndByTheServer() async throws {
        // The client refuses what GigaChat would, naming the limit, before sending anything.
        let tooBig = #expect(throws: GigaChatError.self) {
            try GigaChatFileKind.check(filename: "scan.png", bytes: 15_000_001)
        }
        #expect(tooBig?.message.contains("15 MB") == true)
        #expect(throws: GigaChatError.self) { try GigaChatFileKind.check(filename: "run.exe", bytes: 10) }
        #expect(try GigaChatFileKind.check(filename: "talk.MP3", bytes: 35_000_000).kind == .audio)
        #expect(try GigaChatFileKind.check(filename: "a.docx", bytes: 40_000_000).kind == .text)
        try await EmulatorHarness.run { emulator, client, _ in
            await #expect(throws: GigaChatError.self) { try await client.uploadFile([1, 2, 3], filename: "virus.exe") }
            #expect(emulator.counters.fileCalls == 0, "refused before any request")
            // The server's own checks, past the client's: a body sent by hand.
            func upload(_ name: String, bytes: Int) async -> Int? {
                var body = ByteBuffer()
                body.writeString("--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(name)\"\r\n\r\n")
                body.writeRepeatingByte(65, count: bytes)
                body.writeString("\r\n--b--\r\n")
                do {
                    _ = try await client.callJSON(
                        .POST,
                        "/files",
                        body: body,
                        contentType: "multipart/form-data; boundary=b",
                        retried: false,
                        as: GigaChatFile.self
                    )
                    return 200
                } catch {
                    return (error as? GigaChatError)?.httpStatus
                }
            }
            #expect(await upload("run.exe", bytes: 3) == 415)
            #expect(await upload("scan.png", bytes: 15_000_001) == 413)
            #expect(await upload("book.txt", bytes: 40_000_001) == 422)
            #expect(await upload("ok.txt", bytes: 3) == 200)
        }
    }

    @Test func namesWithQuotesSemicolonsAndCyrillicSurviveTheUpload() async throws {
        try await EmulatorHarness.run { _, client, _ in
            let name = "Отчёт; итог \"финал\" \\ v2.txt"
            let file = try await client.uploadFile(Array("x".utf8), filename: name)
            #expect(file.filename == name)
        }
    }

    @Test func theAnswerShowsEachAttachedFileOnBothAPIs() async throws {
        try await EmulatorHarness.run { emulator, client, _ in
            let text = Array("Quarterly report: revenue grew.".utf8)
            let image = Array(repeating: UInt8(0x89), count: 300)
            let report = try await client.uploadFile(text, filename: "report.txt")
            let chart = try await client.uploadFile(image, filename: "chart.png")
            let question = ChatMessage(role: .user, content: "What do these show?", attachments: [report.id])
            let second = ChatMessage(role: .user, content: "And this?", attachments: [chart.id])
            let expected =
                EmulatorHarness.expectedAnswer("And this?") + "\n"
                + GigaChatEmulator.fileNote(filename: "report.txt", contents: text) + "\n"
                + GigaChatEmulator.fileNote(filename: "chart.png", contents: image)
            for api in GigaChatAPI.allCases {
                let answer = try await client.chat(ChatRequest(messages: [question, second], api: api))
                #expect(answer.content == expected, "\(api)")
            }
            #expect(emulator.counters.invalidRequests == 0)
            // An id the account does not have is 404; two images in one message break the docs' limit.
            let unknown = await #expect(throws: GigaChatError.self) {
                try await client.chat(
                    ChatRequest(messages: [ChatMessage(role: .user, content: "x", attachments: ["nope"])])
                )
            }
            #expect(unknown?.httpStatus == 404)
            let twoImages = await #expect(throws: GigaChatError.self) {
                try await client.chat(
                    ChatRequest(messages: [ChatMessage(role: .user, content: "x", attachments: [chart.id, chart.id])])
                )
            }
            #expect(twoImages?.httpStatus == 422)
        }
    }
}
