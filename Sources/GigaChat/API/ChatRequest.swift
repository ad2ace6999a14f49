import Foundation

/// A request to `POST /chat/completions`: every chat parameter of the v1 API, plus an escape hatch.
///
/// Build it in code, or from a raw JSON object of options with ``init(model:messages:options:)`` (the worker
/// passes a job's `options` through this way). Parameters the type does not know go to
/// ``extraParameters`` and are sent unchanged; a typed field that is set wins over an extra parameter of the same name.
public struct ChatRequest: Codable, Sendable, Hashable {
    /// The model; `nil` uses ``GigaChatConfiguration/model``.
    public var model: String?
    /// The conversation; at most one system message, and it must be first.
    public var messages: [ChatMessage]
    /// Sampling temperature, > 0 (0...0.001 gives a deterministic mode).
    public var temperature: Double?
    /// Nucleus sampling, 0...1.
    public var topP: Double?
    /// Number of choices.
    public var n: Int?
    /// Set by the client: `false` for ``GigaChatClient/chat(_:headers:)``, `true` for ``GigaChatClient/stream(_:headers:)``.
    public var stream: Bool?
    /// Maximum number of tokens to generate.
    public var maxTokens: Int?
    /// Repetition penalty, > 0 (1.0 is neutral).
    public var repetitionPenalty: Double?
    /// Streaming only: minimum seconds between events.
    public var updateInterval: Double?
    /// Functions the model may call.
    public var functions: [ChatFunction]?
    /// How the model may call them.
    public var functionCall: ChatFunctionCallMode?
    /// Legacy profanity filter switch; `nil` uses ``GigaChatConfiguration/profanityCheck``.
    public var profanityCheck: Bool?
    /// SDK-level flags; `nil` uses ``GigaChatConfiguration/flags``.
    public var flags: [String]?
    /// Any other parameters, sent as they are (`reasoning_effort`, `response_format`, `storage`, ...). On v2, the
    /// ones that v2 keeps under `model_options` go there (see ``GigaChatAPI/v2``).
    public var extraParameters: [String: JSONValue]
    /// The API to call; `nil` uses ``GigaChatConfiguration/api``. Not part of the request body.
    public var api: GigaChatAPI?

    /// Creates a request.
    public init(
        model: String? = nil,
        messages: [ChatMessage],
        temperature: Double? = nil,
        topP: Double? = nil,
        n: Int? = nil,
        maxTokens: Int? = nil,
        repetitionPenalty: Double? = nil,
        updateInterval: Double? = nil,
        functions: [ChatFunction]? = nil,
        functionCall: ChatFunctionCallMode? = nil,
        profanityCheck: Bool? = nil,
        flags: [String]? = nil,
        extraParameters: [String: JSONValue] = [:],
        api: GigaChatAPI? = nil
    ) {
        self.model = model
        self.messages = messages
        self.temperature = temperature
        self.topP = topP
        self.n = n
        self.stream = nil
        self.maxTokens = maxTokens
        self.repetitionPenalty = repetitionPenalty
        self.updateInterval = updateInterval
        self.functions = functions
        self.functionCall = functionCall
        self.profanityCheck = profanityCheck
        self.flags = flags
        self.extraParameters = extraParameters
        self.api = api
    }

    /// Creates a request from a raw JSON object of chat options (e.g. a job's `options`).
    ///
    /// Known parameters are decoded into their typed fields (so a wrong type is reported here, not by the
    /// server); unknown ones go to ``extraParameters``. `model` and `messages` given as arguments win over
    /// the same keys in `options`.
    /// - Throws: ``GigaChatError`` with code ``GigaChatError/Code/badRequest`` when an option has the wrong type.
    public init(model: String? = nil, messages: [ChatMessage], options: [String: JSONValue]) throws {
        self.init(model: model, messages: messages)
        // Read the typed parameters straight from the values (no JSON round trip: the worker does this per job).
        for (key, value) in options {
            switch key {
            case "messages", "stream":
                continue  // set by the caller and by the client
            case "model":
                if model == nil { self.model = try Self.string(value, key) }
            case "temperature": self.temperature = try Self.number(value, key)
            case "top_p": self.topP = try Self.number(value, key)
            case "repetition_penalty": self.repetitionPenalty = try Self.number(value, key)
            case "update_interval": self.updateInterval = try Self.number(value, key)
            case "n": self.n = try Self.integer(value, key)
            case "max_tokens": self.maxTokens = try Self.integer(value, key)
            case "profanity_check":
                guard case .bool(let flag) = value else { throw Self.invalid(key, "true or false") }
                self.profanityCheck = flag
            case "flags":
                guard case .array(let items) = value else { throw Self.invalid(key, "an array of strings") }
                self.flags = try items.map { try Self.string($0, key) }
            case "functions": self.functions = try Self.decoded([ChatFunction].self, from: value, key)
            case "function_call": self.functionCall = try Self.decoded(ChatFunctionCallMode.self, from: value, key)
            default: self.extraParameters[key] = value
            }
        }
    }

    private static func invalid(_ key: String, _ expected: String) -> GigaChatError {
        GigaChatError(code: .badRequest, message: "invalid chat options: \(key): expected \(expected)")
    }

    private static func string(_ value: JSONValue, _ key: String) throws -> String {
        guard case .string(let text) = value else { throw invalid(key, "a string") }
        return text
    }

    private static func number(_ value: JSONValue, _ key: String) throws -> Double {
        guard case .number(let number) = value else { throw invalid(key, "a number") }
        return number
    }

    private static func integer(_ value: JSONValue, _ key: String) throws -> Int {
        guard case .number(let number) = value, number.rounded() == number, abs(number) < 9.0e15 else {
            throw invalid(key, "a whole number")
        }
        return Int(number)
    }

    /// The rare structured parameters go through Codable, for their nested validation.
    private static func decoded<T: Decodable>(_ type: T.Type, from value: JSONValue, _ key: String) throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
        } catch let error as DecodingError {
            throw GigaChatError(code: .badRequest, message: "invalid chat options: \(key): \(Self.describe(error))")
        } catch {
            throw GigaChatError(code: .badRequest, message: "invalid chat options: \(key): \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context),
            .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { self.stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }

        static let model = Key("model")
        static let messages = Key("messages")
        static let temperature = Key("temperature")
        static let topP = Key("top_p")
        static let n = Key("n")
        static let stream = Key("stream")
        static let maxTokens = Key("max_tokens")
        static let repetitionPenalty = Key("repetition_penalty")
        static let updateInterval = Key("update_interval")
        static let functions = Key("functions")
        static let functionCall = Key("function_call")
        static let profanityCheck = Key("profanity_check")
        static let flags = Key("flags")
        static let known: Set<String> = [
            "model", "messages", "temperature", "top_p", "n", "stream", "max_tokens", "repetition_penalty",
            "update_interval", "functions", "function_call", "profanity_check", "flags",
        ]
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Key.self)
        self.model = try container.decodeIfPresent(String.self, forKey: .model)
        self.messages = try container.decode([ChatMessage].self, forKey: .messages)
        self.temperature = try container.decodeIfPresent(Double.self, forKey: .temperature)
        self.topP = try container.decodeIfPresent(Double.self, forKey: .topP)
        self.n = try container.decodeIfPresent(Int.self, forKey: .n)
        self.stream = try container.decodeIfPresent(Bool.self, forKey: .stream)
        self.maxTokens = try container.decodeIfPresent(Int.self, forKey: .maxTokens)
        self.repetitionPenalty = try container.decodeIfPresent(Double.self, forKey: .repetitionPenalty)
        self.updateInterval = try container.decodeIfPresent(Double.self, forKey: .updateInterval)
        self.functions = try container.decodeIfPresent([ChatFunction].self, forKey: .functions)
        self.functionCall = try container.decodeIfPresent(ChatFunctionCallMode.self, forKey: .functionCall)
        self.profanityCheck = try container.decodeIfPresent(Bool.self, forKey: .profanityCheck)
        self.flags = try container.decodeIfPresent([String].self, forKey: .flags)
        var extra: [String: JSONValue] = [:]
        for key in container.allKeys where !Key.known.contains(key.stringValue) {
            extra[key.stringValue] = try container.decode(JSONValue.self, forKey: key)
        }
        self.extraParameters = extra
        self.api = nil
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        // An extra parameter named like a typed field is sent only when that field is unset.
        var typed: Set<String> = ["messages"]
        if self.model != nil { typed.insert("model") }
        if self.temperature != nil { typed.insert("temperature") }
        if self.topP != nil { typed.insert("top_p") }
        if self.n != nil { typed.insert("n") }
        if self.stream != nil { typed.insert("stream") }
        if self.maxTokens != nil { typed.insert("max_tokens") }
        if self.repetitionPenalty != nil { typed.insert("repetition_penalty") }
        if self.updateInterval != nil { typed.insert("update_interval") }
        if self.functions != nil { typed.insert("functions") }
        if self.functionCall != nil { typed.insert("function_call") }
        if self.profanityCheck != nil { typed.insert("profanity_check") }
        if self.flags != nil { typed.insert("flags") }
        for (key, value) in self.extraParameters where !typed.contains(key) {
            try container.encode(value, forKey: Key(key))
        }
        try container.encodeIfPresent(self.model, forKey: .model)
        try container.encode(self.messages, forKey: .messages)
        try container.encodeIfPresent(self.temperature, forKey: .temperature)
        try container.encodeIfPresent(self.topP, forKey: .topP)
        try container.encodeIfPresent(self.n, forKey: .n)
        try container.encodeIfPresent(self.stream, forKey: .stream)
        try container.encodeIfPresent(self.maxTokens, forKey: .maxTokens)
        try container.encodeIfPresent(self.repetitionPenalty, forKey: .repetitionPenalty)
        try container.encodeIfPresent(self.updateInterval, forKey: .updateInterval)
        try container.encodeIfPresent(self.functions, forKey: .functions)
        try container.encodeIfPresent(self.functionCall, forKey: .functionCall)
        try container.encodeIfPresent(self.profanityCheck, forKey: .profanityCheck)
        try container.encodeIfPresent(self.flags, forKey: .flags)
    }
}
