import NIOCore

/// A synthetic GigaChat `text/event-stream` body in the recorded shape (fixtures `test_stream_simple.yaml`,
/// `chat_completion.stream`): `data: {"choices":[{"delta":{...},"index":0}],"created":...,"model":"GigaChat:2.0.28.2",
/// "object":"chat.completion"}` events of a few Cyrillic words each (with `\n` escapes, quotes and dashes), the role in
/// the first delta, `finish_reason` and `usage` in the last, then `data: [DONE]`; many such streams back to back.
struct GigaChatSSEInput {
    /// The whole body.
    var buffer: ByteBuffer
    /// `data:` events that are not `[DONE]`.
    var dataEvents: Int
    /// `[DONE]` events (one per stream).
    var doneEvents: Int
    /// Bytes of all events' data (what the parser hands out).
    var dataBytes: Int
    /// UTF-8 bytes of the decoded `content` of every delta.
    var contentBytes: Int

    /// The body cut into `pieceSize` slices (sharing the storage), as a socket would hand them out.
    func pieces(of pieceSize: Int) -> [ByteBuffer] {
        stride(from: 0, to: buffer.readableBytes, by: pieceSize).map { start in
            buffer.getSlice(at: buffer.readerIndex + start, length: min(pieceSize, buffer.readableBytes - start))!
        }
    }

    private static let words = [
        "Конечно", "у", "человечества", "всегда", "есть", "возможность", "развивать", "свои", "технологии", "и",
        "улучшать", "качество", "жизни", "Важно", "помнить", "что", "ИИ", "—", "это", "всего", "лишь", "инструмент",
        "который", "мы", "можем", "использовать", "для", "достижения", "определенных", "целей", "Главное",
        "подходить", "к", "его", "использованию", "ответственно", "с", "умом", "**Подробный", "разбор:**",
        "Начинаем", "счёт", "с", "единицы", "Добавляем", "следующее", "число", "двойку", "«кавычки»", "$1\\\\, 2$",
        "Kafka", "JSON", "2026", "№42",
    ]

    /// Builds about `size` bytes (whole streams; at least one). Deterministic.
    static func make(size: Int) -> GigaChatSSEInput {
        // A block of distinct streams, repeated: generating 64 MiB word by word would dominate the run time.
        var block: [UInt8] = []
        var dataEvents = 0
        var dataBytes = 0
        var contentBytes = 0
        var random: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((random >> 33) % UInt64(bound))
        }
        let streamsInBlock = 64
        for stream in 0..<streamsInBlock {
            let created = 1_768_996_176 + stream
            let tail = "],\"created\":\(created),\"model\":\"GigaChat:2.0.28.2\",\"object\":\"chat.completion\""
            let events = 20 + next(40)
            var completionWords = 0
            for index in 0..<events {
                // Escaped JSON content (what goes on the wire) and its decoded UTF-8 length.
                var escaped = ""
                var decodedLength = 0
                let count = 1 + next(8)
                for word in 0..<count {
                    var text = Self.words[next(Self.words.count)]
                    if next(10) == 0 { text = "\"" + text + "\"" }
                    let separator = word == 0 && index == 0 ? "" : (next(12) == 0 ? "\n" : " ")
                    let piece = separator + text
                    decodedLength += piece.utf8.count
                    escaped += piece.replacingOccurrences(of: "\\", with: "\\\\")
                        .replacingOccurrences(of: "\"", with: "\\\"")
                        .replacingOccurrences(of: "\n", with: "\\n")
                }
                completionWords += count
                let delta =
                    index == 0
                    ? "{\"content\":\"\(escaped)\",\"role\":\"assistant\"}" : "{\"content\":\"\(escaped)\"}"
                let data = "{\"choices\":[{\"delta\":\(delta),\"index\":0}\(tail)}"
                block.append(contentsOf: "data: \(data)\n\n".utf8)
                dataEvents += 1
                dataBytes += data.utf8.count
                contentBytes += decodedLength
            }
            let usage =
                "{\"prompt_tokens\":17,\"completion_tokens\":\(completionWords),"
                + "\"total_tokens\":\(17 + completionWords),\"precached_prompt_tokens\":2}"
            let finish =
                "{\"choices\":[{\"delta\":{\"content\":\"\"},\"index\":0,\"finish_reason\":\"stop\"}\(tail),"
                + "\"usage\":\(usage)}"
            block.append(contentsOf: "data: \(finish)\n\ndata: [DONE]\n\n".utf8)
            dataEvents += 1
            dataBytes += finish.utf8.count
        }
        let repeats = max(1, (size + block.count - 1) / block.count)
        var buffer = ByteBufferAllocator().buffer(capacity: repeats * block.count)
        for _ in 0..<repeats { buffer.writeBytes(block) }
        return GigaChatSSEInput(
            buffer: buffer,
            dataEvents: dataEvents * repeats,
            doneEvents: streamsInBlock * repeats,
            dataBytes: dataBytes * repeats,
            contentBytes: contentBytes * repeats
        )
    }
}
