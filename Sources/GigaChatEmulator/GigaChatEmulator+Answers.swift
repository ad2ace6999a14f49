// MARK: - GigaChatEmulator + Answers

extension GigaChatEmulator {
    /// The reply the emulator gives to a conversation, so tests can predict content exactly.
    ///
    /// It echoes the last `user` message and adds a fixed Russian sentence with the word count (non-ASCII on
    /// purpose, as real answers are): `"Echo: <content>\nОтвет эмулятора: слов в запросе — <n>."`, where `<n>` is
    /// ``tokenCount(of:)`` of that content. Without a user message the echo part is empty. The model does not change
    /// the text (it is accepted so the rule can change without breaking callers). A `max_tokens` smaller than the
    /// reply's ``tokenCount(of:)`` truncates it to that many words (see ``truncated(_:toTokens:)``) and the
    /// `finish_reason` becomes `length`.
    /// - Parameters:
    ///   - messages: The request's messages, in order.
    ///   - model: The requested model id.
    /// - Returns: The full assistant content.
    public static func answer(for messages: [(role: String, content: String)], model: String) -> String {
        let last = messages.last { $0.role == "user" }?.content ?? ""
        return "Echo: \(last)\nОтвет эмулятора: слов в запросе — \(tokenCount(of: last))."
    }

    /// The emulator's token count of a text: its number of whitespace-separated words (the real tokenizer is not
    /// public; words are close enough and predictable). Used for `usage`, `POST /tokens/count` and `max_tokens`.
    ///
    /// `usage` of a chat completion: `prompt_tokens` = the sum over all messages' contents,
    /// `completion_tokens` = the count of the (possibly truncated) answer, `total_tokens` = their sum (cached
    /// tokens included, as the real API reports it), `precached_prompt_tokens` = the prompt prefix's count when the
    /// prefix cache served it (see ``GigaChatEmulatorConfiguration/prefixCacheTTL``), else 0.
    /// - Parameter text: Any text.
    /// - Returns: The number of words.
    public static func tokenCount(of text: String) -> Int {
        words(of: text).count
    }

    /// The first `limit` words of `text` with the whitespace between them, trailing whitespace dropped; `text` itself
    /// when it has no more words than `limit`.
    /// - Parameters:
    ///   - text: The full answer.
    ///   - limit: The maximum number of words (`max_tokens`).
    /// - Returns: The truncated answer.
    public static func truncated(_ text: String, toTokens limit: Int) -> String {
        let pieces = streamPieces(of: text)
        guard pieces.count > limit else { return text }
        var result = pieces.prefix(max(0, limit)).joined()
        while let last = result.last, last.isWhitespace { result.removeLast() }
        return result
    }

    /// The pieces a streamed answer is cut into when no chunk count is configured: each word with the whitespace
    /// that follows it (leading whitespace stays with the first piece). Joined, they give `text` back exactly.
    /// - Parameter text: The content to stream.
    /// - Returns: The pieces in order; `[""]`-free: an empty text has no pieces.
    public static func streamPieces(of text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        var sawWordInCurrent = false
        var inWhitespaceAfterWord = false
        for character in text {
            if character.isWhitespace {
                if sawWordInCurrent { inWhitespaceAfterWord = true }
                current.append(character)
            } else {
                if inWhitespaceAfterWord {
                    pieces.append(current)
                    current = ""
                    inWhitespaceAfterWord = false
                }
                sawWordInCurrent = true
                current.append(character)
            }
        }
        if !current.isEmpty {
            if sawWordInCurrent || pieces.isEmpty {
                pieces.append(current)
            } else {
                pieces[pieces.count - 1] += current
            }
        }
        return pieces
    }

    static func words(of text: String) -> [Substring] {
        text.split(whereSeparator: \.isWhitespace)
    }

    /// Splits content into `count` events of nearly equal numbers of pieces (the first ones get the extra piece);
    /// fewer events when there are fewer pieces, one empty event for empty content.
    static func chunks(of text: String, count: Int?) -> [String] {
        let pieces = streamPieces(of: text)
        guard !pieces.isEmpty else { return [text] }
        guard let count, count < pieces.count else { return pieces }
        let base = pieces.count / count
        let extra = pieces.count % count
        var result: [String] = []
        var start = 0
        for chunk in 0..<count {
            let size = base + (chunk < extra ? 1 : 0)
            result.append(pieces[start..<(start + size)].joined())
            start += size
        }
        return result
    }

    /// A 64-bit FNV-1a hash: stable across runs and platforms (unlike `Hasher`), for deterministic ids and vectors.
    static func stableHash(_ text: String, seed: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = seed
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        return hash
    }

    /// A UUID-shaped (version 4 layout) id derived from `text`, so `functions_state_id` is predictable.
    static func stableUUID(_ text: String) -> String {
        let high = stableHash(text)
        let low = stableHash(text, seed: high ^ 0x9E37_79B9_7F4A_7C15)
        let hex = String(high, radix: 16).leftPadded(to: 16) + String(low, radix: 16).leftPadded(to: 16)
        let characters = Array(hex)
        let timeLow = String(characters[0..<8])
        let timeMid = String(characters[8..<12])
        let version = "4" + String(characters[13..<16])
        let variant = "a" + String(characters[17..<20])
        let node = String(characters[20..<32])
        return "\(timeLow)-\(timeMid)-\(version)-\(variant)-\(node)"
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}

// MARK: - GigaChatEmulator + Embeddings

extension GigaChatEmulator {
    /// The size of the emulator's embedding vectors, for every embedder model (the real `Embeddings` model answers
    /// 1024 numbers).
    public static let embeddingDimensions = 1024

    /// The vector the emulator answers for a text: ``embeddingDimensions`` numbers in [-2, 2), a function of the
    /// text alone, so a test can predict it.
    public static func embedding(of text: String) -> [Double] {
        var seed = stableHash(text)
        var vector: [Double] = []
        vector.reserveCapacity(embeddingDimensions)
        for _ in 0..<embeddingDimensions {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var mixed = seed
            mixed = (mixed ^ (mixed >> 30)) &* 0xBF58_476D_1CE4_E5B9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94D0_49BB_1331_11EB
            mixed ^= mixed >> 31
            vector.append(Double(Int(mixed % 8192) - 4096) / 2048)
        }
        return vector
    }
}
