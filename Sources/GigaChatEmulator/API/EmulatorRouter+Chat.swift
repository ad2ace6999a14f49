import Foundation
import NIOCore
import NIOHTTP1

// MARK: - EmulatorRouter + Chat completions

extension EmulatorRouter {
    /// A validated chat completion request.
    struct ChatRequest {
        /// Which API the request came in on; the answer takes its shape.
        enum API {
            case v1
            case v2
        }

        enum FunctionCallMode {
            case auto
            case none
            case named(String)
        }

        struct Function {
            var name: String
            var parameters: EmulatorJSON?
        }

        var model: String
        var messages: [(role: String, content: String)]
        var stream: Bool
        var maxTokens: Int?
        var functions: [Function]
        var functionCall: FunctionCallMode
        var api: API = .v1
        /// `response_format` (v1 top level, v2 under `model_options`), validated.
        var responseFormat: EmulatorJSON?
        /// Prompt tokens the prefix cache served (set once the call is admitted).
        var cachedTokens = 0
        /// The file ids each message attaches (v1 `attachments`, v2 `files` parts), in order.
        var attachments: [[String]] = []
        /// What the answer says about the attached files (``GigaChatEmulator/fileNote(filename:contents:)``).
        var fileNotes: [String] = []
    }

    /// A rejected request: the status and the message of the `{"status","message"}` body.
    struct Rejection: Error {
        var status: HTTPResponseStatus
        var message: String

        static func invalid(_ detail: String) -> Rejection {
            Rejection(status: .unprocessableEntity, message: "Invalid params: \(detail)")
        }
    }

    static let knownRoles: Set<String> = [
        "system", "user", "assistant", "function", "search_result", "function_in_progress",
    ]

    /// `POST /api/v1/chat/completions` and `POST /api/v2/chat/completions`.
    ///
    /// Order: bearer token (401), JSON and parameters (400/404/422), then the faults and the concurrency limit
    /// (``EmulatorState/admitChat(account:)``), then the deterministic answer, whole or streamed, in the shape of
    /// the API it was asked on (the same answer on both).
    func chatCompletions(_ request: EmulatorRequest, allocator: ByteBufferAllocator, api: ChatRequest.API)
        -> EmulatorResponse
    {
        let issued: EmulatorState.IssuedToken
        switch authenticate(request, allocator: allocator) {
        case .success(let token): issued = token
        case .failure(let error): return error.response
        }
        let json: EmulatorJSON
        do {
            json = try EmulatorJSON.parse(request.body)
        } catch {
            state.count {
                $0.chatCalls += 1
                $0.invalidRequests += 1
            }
            return apiError(
                .badRequest,
                "Invalid JSON: \(error.message) at byte \(error.offset)",
                request,
                allocator: allocator
            )
        }
        let wantsStream = json["stream"]?.boolValue ?? false
        state.count {
            $0.chatCalls += 1
            if wantsStream { $0.streamCalls += 1 }
            if api == .v2 { $0.v2ChatCalls += 1 }
        }
        var chat: ChatRequest
        do {
            chat = try api == .v1 ? parseChat(json) : parseChatV2(json)
            chat.fileNotes = try attachedFiles(chat, account: issued.account).map {
                GigaChatEmulator.fileNote(filename: $0.filename, contents: $0.contents)
            }
        } catch {
            state.count { $0.invalidRequests += 1 }
            return apiError(error.status, error.message, request, allocator: allocator)
        }
        switch state.admitChat(account: issued.account) {
        case .rejected(let status):
            return apiError(
                HTTPResponseStatus(statusCode: status),
                Self.standardMessage(for: status),
                request,
                allocator: allocator
            )
        case .admitted:
            break
        }
        if let session = request.headers.first(name: "X-Session-ID"), !session.isEmpty, chat.messages.count > 1 {
            // (The files were resolved before admission; the cache keys on the messages' text.)
            // The prefix: every message but the last, role and content.
            let prefix = chat.messages.dropLast()
            let tokens = prefix.reduce(0) { $0 + GigaChatEmulator.tokenCount(of: $1.content) }
            let key = GigaChatEmulator.stableHash(
                prefix.map { "\($0.role)\u{1E}\($0.content)" }.joined(separator: "\u{1F}")
            )
            chat.cachedTokens = state.cachedTokens(
                account: issued.account,
                session: session,
                prefix: key,
                tokens: tokens,
                ttl: configuration.prefixCacheTTL
            )
        }
        // One generation, charged once, whichever shape the answer takes.
        let generation = generate(chat)
        state.charge(tokens: generation.usage["total_tokens"]?.intValue ?? 0)
        var response: EmulatorResponse
        switch (api, chat.stream) {
        case (.v1, true): response = streamedAnswer(chat, generation, request, allocator: allocator)
        case (.v1, false): response = wholeAnswer(chat, generation, request, allocator: allocator)
        case (.v2, true): response = streamedAnswerV2(chat, generation, request, allocator: allocator)
        case (.v2, false): response = wholeAnswerV2(chat, generation, request, allocator: allocator)
        }
        response.chatAccount = issued.account
        return response
    }

    // MARK: Parsing and validation

    func parseChat(_ json: EmulatorJSON) throws(Rejection) -> ChatRequest {
        guard json.objectValue != nil else { throw Rejection.invalid("request body must be a JSON object") }
        let model = try chatModel(json)
        guard let rawMessages = json["messages"]?.arrayValue, !rawMessages.isEmpty else {
            throw Rejection.invalid("messages must not be empty")
        }
        var messages: [(role: String, content: String)] = []
        var attachments: [[String]] = []
        for (index, raw) in rawMessages.enumerated() {
            guard raw.objectValue != nil else { throw Rejection.invalid("messages[\(index)] must be an object") }
            guard let role = raw["role"]?.stringValue, Self.knownRoles.contains(role) else {
                throw Rejection.invalid("messages[\(index)].role is not a known role")
            }
            let content: String
            switch raw["content"] {
            case .none, .some(.null): content = ""
            case .some(.string(let text)): content = text
            default: throw Rejection.invalid("messages[\(index)].content must be a string")
            }
            if role == "system", index != 0 {
                throw Rejection.invalid("system message must be the first message")
            }
            messages.append((role, content))
            switch raw["attachments"] {
            case .none, .some(.null): attachments.append([])
            case .some(.array(let ids)) where ids.allSatisfy({ $0.stringValue != nil }):
                attachments.append(ids.compactMap(\.stringValue))
            default: throw Rejection.invalid("messages[\(index)].attachments must be an array of file ids")
            }
        }
        let stream = try streamFlag(json)
        let maxTokens = try samplingOptions(json, prefix: "")
        if let value = json["n"], value != .null {
            guard let n = value.intValue, n >= 1 else { throw Rejection.invalid("n must be a positive integer") }
        }
        var functions: [ChatRequest.Function] = []
        if let value = json["functions"], value != .null {
            guard let list = value.arrayValue else { throw Rejection.invalid("functions must be an array") }
            functions = try Self.functions(list, path: "functions")
        }
        var functionCall = ChatRequest.FunctionCallMode.auto
        switch json["function_call"] {
        case .none, .some(.null), .some(.string("auto")):
            break
        case .some(.string("none")):
            functionCall = .none
        case .some(let value):
            guard let name = value["name"]?.stringValue else {
                throw Rejection.invalid("function_call must be \"auto\", \"none\" or {\"name\": ...}")
            }
            guard functions.contains(where: { $0.name == name }) else {
                throw Rejection.invalid("function_call names a function that is not in functions")
            }
            functionCall = .named(name)
        }
        let responseFormat = try Self.responseFormat(json["response_format"], path: "response_format", api: .v1)
        return ChatRequest(
            model: model,
            messages: messages,
            stream: stream,
            maxTokens: maxTokens,
            functions: functions,
            functionCall: functionCall,
            responseFormat: responseFormat,
            attachments: attachments
        )
    }

    /// `model`: required, and a chat model of the list (404 otherwise, as the real API answers).
    func chatModel(_ json: EmulatorJSON) throws(Rejection) -> String {
        guard let model = json["model"]?.stringValue, !model.isEmpty else {
            throw Rejection.invalid("model is required")
        }
        guard modelTypes[model] == "chat" else {
            throw Rejection(status: .notFound, message: "No such model")
        }
        return model
    }

    func streamFlag(_ json: EmulatorJSON) throws(Rejection) -> Bool {
        switch json["stream"] {
        case .none, .some(.null): return false
        case .some(.bool(let value)): return value
        default: throw Rejection.invalid("stream must be a boolean")
        }
    }

    /// Checks the sampling parameters of `options` (the body on v1, `model_options` on v2) and returns
    /// `max_tokens`; `prefix` names where they are in messages.
    func samplingOptions(_ options: EmulatorJSON, prefix: String) throws(Rejection) -> Int? {
        if let temperature = try optionalNumber(options, "temperature", prefix), temperature <= 0 {
            throw Rejection.invalid("\(prefix)temperature must be in range (0, +inf)")
        }
        if let topP = try optionalNumber(options, "top_p", prefix), !(0...1).contains(topP) {
            throw Rejection.invalid("\(prefix)top_p must be in range [0, 1]")
        }
        if let penalty = try optionalNumber(options, "repetition_penalty", prefix), penalty <= 0 {
            throw Rejection.invalid("\(prefix)repetition_penalty must be in range (0, +inf)")
        }
        if let interval = try optionalNumber(options, "update_interval", prefix), interval < 0 {
            throw Rejection.invalid("\(prefix)update_interval must be in range [0, +inf)")
        }
        guard let value = options["max_tokens"], value != .null else { return nil }
        guard let tokens = value.intValue, tokens >= 1 else {
            throw Rejection.invalid("\(prefix)max_tokens must be a positive integer")
        }
        return tokens
    }

    /// Function specifications (v1 `functions`, v2 `tools[].functions.specifications`).
    static func functions(_ list: [EmulatorJSON], path: String) throws(Rejection) -> [ChatRequest.Function] {
        var functions: [ChatRequest.Function] = []
        for (index, raw) in list.enumerated() {
            guard let name = raw["name"]?.stringValue, Self.isValidFunctionName(name) else {
                throw Rejection.invalid("\(path)[\(index)].name must be latin letters, digits or '_'")
            }
            functions.append(.init(name: name, parameters: raw["parameters"]))
        }
        return functions
    }

    /// A `response_format`: `{"type": "text"}`, `{"type": "json_schema", "schema": {...}}` or (v2 only)
    /// `{"type": "regex", "regex": "..."}`; `nil` when absent.
    static func responseFormat(_ value: EmulatorJSON?, path: String, api: ChatRequest.API) throws(Rejection)
        -> EmulatorJSON?
    {
        guard let value, value != .null else { return nil }
        guard value.objectValue != nil else { throw Rejection.invalid("\(path) must be an object") }
        switch value["type"]?.stringValue {
        case "text":
            return nil
        case "json_schema":
            guard value["schema"]?.objectValue != nil else {
                throw Rejection.invalid("\(path).schema must be a JSON Schema object")
            }
        case "regex" where api == .v2:
            guard let pattern = value["regex"]?.stringValue, !pattern.isEmpty else {
                throw Rejection.invalid("\(path).regex must be a non-empty string")
            }
        default:
            throw Rejection.invalid(
                "\(path).type must be \(api == .v2 ? "text, json_schema or regex" : "text or json_schema")"
            )
        }
        return value
    }

    private func optionalNumber(_ json: EmulatorJSON, _ key: String, _ prefix: String) throws(Rejection) -> Double? {
        switch json[key] {
        case .none, .some(.null): return nil
        case .some(.number(let value)): return value
        default: throw Rejection.invalid("\(prefix)\(key) must be a number")
        }
    }

    static func isValidFunctionName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
        }
    }

    // MARK: The answer

    /// What the model "generates": text, or a function call.
    struct Generation {
        var content: String
        var functionCall: EmulatorJSON?
        var functionsStateID: String?
        var finishReason: String
        var usage: EmulatorJSON
    }

    func generate(_ chat: ChatRequest) -> Generation {
        let promptTokens = chat.messages.reduce(0) { $0 + GigaChatEmulator.tokenCount(of: $1.content) }
        let precached = chat.cachedTokens
        func usage(completion: Int) -> EmulatorJSON {
            .object([
                ("prompt_tokens", .number(Double(promptTokens))),
                ("completion_tokens", .number(Double(completion))),
                ("total_tokens", .number(Double(promptTokens + completion))),
                ("precached_prompt_tokens", .number(Double(precached))),
            ])
        }
        if let function = chosenFunction(chat) {
            let lastUser = chat.messages.last { $0.role == "user" }?.content ?? ""
            let arguments = Self.arguments(for: function.parameters, prompt: lastUser)
            let call = EmulatorJSON.object([("name", .string(function.name)), ("arguments", arguments)])
            return Generation(
                content: "",
                functionCall: call,
                functionsStateID: GigaChatEmulator.stableUUID(function.name + "\u{1F}" + lastUser),
                finishReason: "function_call",
                usage: usage(completion: 1 + (arguments.objectValue?.count ?? 0))
            )
        }
        var full = GigaChatEmulator.answer(for: chat.messages, model: chat.model)
        if let format = chat.responseFormat, format["type"]?.stringValue == "regex",
            let sample = format["regex"]?.stringValue.flatMap(GigaChatEmulator.regexSample)
        {
            full = sample
        }
        if let format = chat.responseFormat, format["type"]?.stringValue == "json_schema", let schema = format["schema"]
        {
            let lastUser = chat.messages.last { $0.role == "user" }?.content ?? ""
            full = GigaChatEmulator.structuredAnswer(schema: schema, prompt: lastUser)
            // A first attempt (no assistant message yet) of a chosen prompt gets text around the JSON.
            let firstAttempt = !chat.messages.contains { $0.role == "assistant" }
            if firstAttempt, GigaChatEmulator.answersInvalidJSON(to: lastUser, rate: state.faults.invalidStructuredRate)
            {
                full = "Вот ответ в формате JSON: " + full
                state.count { $0.invalidStructuredAnswers += 1 }
            }
        }
        if !chat.fileNotes.isEmpty, chat.responseFormat == nil {
            full += "\n" + chat.fileNotes.joined(separator: "\n")
        }
        var content = full
        var finishReason = "stop"
        if let limit = chat.maxTokens, GigaChatEmulator.tokenCount(of: full) > limit {
            content = GigaChatEmulator.truncated(full, toTokens: limit)
            finishReason = "length"
        }
        return Generation(
            content: content,
            functionCall: nil,
            functionsStateID: nil,
            finishReason: finishReason,
            usage: usage(completion: GigaChatEmulator.tokenCount(of: content))
        )
    }

    /// The function to call: the forced one, else (mode auto) the first function whose name appears in the last
    /// message when that message is the user's; `nil` for a text answer.
    private func chosenFunction(_ chat: ChatRequest) -> ChatRequest.Function? {
        guard !chat.functions.isEmpty else { return nil }
        switch chat.functionCall {
        case .none:
            return nil
        case .named(let name):
            return chat.functions.first { $0.name == name }
        case .auto:
            guard let last = chat.messages.last, last.role == "user" else { return nil }
            let prompt = last.content.lowercased()
            return chat.functions.first { prompt.contains($0.name.lowercased()) }
        }
    }

    /// Arguments that fit the JSON Schema of the parameters, in the schema's property order: strings get the
    /// prompt (or their first `enum` value), numbers 0, booleans false, arrays [], objects {}.
    static func arguments(for parameters: EmulatorJSON?, prompt: String) -> EmulatorJSON {
        guard let properties = parameters?["properties"]?.objectValue else { return .object([]) }
        return .object(
            properties.map { name, schema in
                let value: EmulatorJSON
                switch schema["type"]?.stringValue {
                case "string": value = schema["enum"]?.arrayValue?.first ?? .string(prompt)
                case "integer", "number": value = .number(0)
                case "boolean": value = .bool(false)
                case "array": value = .array([])
                case "object": value = .object([])
                default: value = .null
                }
                return (name, value)
            }
        )
    }

    static func versionedModel(_ model: String) -> String {
        "\(model):2.0.28.2"
    }

    /// The number of events a streamed answer has (content events, the finish event, `[DONE]`).
    func contentChunks(of generation: Generation) -> [String] {
        generation.functionCall != nil
            ? [""] : GigaChatEmulator.chunks(of: generation.content, count: configuration.chunkCount)
    }

    /// The generation time of an answer with `eventCount` events: what the stream would take.
    func generationTime(eventCount: Int) -> TimeAmount {
        TimeAmount(configuration.timeToFirstToken) + TimeAmount(configuration.chunkDelay)
            * Int64(max(0, eventCount - 1))
    }

    func wholeAnswer(
        _ chat: ChatRequest,
        _ generation: Generation,
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    )
        -> EmulatorResponse
    {
        var message: [(String, EmulatorJSON)] = [
            ("content", .string(generation.content)), ("role", .string("assistant")),
        ]
        if let call = generation.functionCall { message.append(("function_call", call)) }
        if let stateID = generation.functionsStateID { message.append(("functions_state_id", .string(stateID))) }
        let body = EmulatorJSON.object([
            (
                "choices",
                .array([
                    .object([
                        ("message", .object(message)),
                        ("index", .number(0)),
                        ("finish_reason", .string(generation.finishReason)),
                    ])
                ])
            ),
            ("created", .number(Double(Int(Date().timeIntervalSince1970)))),
            ("model", .string(Self.versionedModel(chat.model))),
            ("object", .string("chat.completion")),
            ("usage", generation.usage),
        ])
        var response = json(.ok, body, request, allocator: allocator)
        response.delay = generationTime(eventCount: contentChunks(of: generation).count + 2)
        return response
    }

    func streamedAnswer(
        _ chat: ChatRequest,
        _ generation: Generation,
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    )
        -> EmulatorResponse
    {
        let chunks = contentChunks(of: generation)
        // All events go into one buffer and are handed out as slices of it: one allocation per stream. The part
        // after "choices" is the same in every event, so it is rendered once.
        var tail = allocator.buffer(capacity: 96)
        tail.writeStaticString("],\"created\":")
        tail.writeString(String(Int(Date().timeIntervalSince1970)))
        tail.writeStaticString(",\"model\":")
        EmulatorJSON.string(Self.versionedModel(chat.model)).write(into: &tail)
        tail.writeStaticString(",\"object\":\"chat.completion\"")
        var storage = allocator.buffer(
            capacity: (chunks.count + 2) * (tail.readableBytes + 64) + generation.content.utf8.count
        )
        var ranges: [Range<Int>] = []
        for (index, chunk) in chunks.enumerated() {
            let start = storage.writerIndex
            storage.writeStaticString("data: {\"choices\":[{\"delta\":")
            if index == 0 {
                // Only the first delta names the role, as the real stream does.
                var delta: [(String, EmulatorJSON)] = [("content", .string(chunk)), ("role", .string("assistant"))]
                if let call = generation.functionCall { delta.append(("function_call", call)) }
                if let stateID = generation.functionsStateID { delta.append(("functions_state_id", .string(stateID))) }
                EmulatorJSON.object(delta).write(into: &storage)
            } else {
                storage.writeStaticString("{\"content\":")
                EmulatorJSON.string(chunk).write(into: &storage)
                storage.writeStaticString("}")
            }
            storage.writeStaticString(",\"index\":0}")
            storage.writeImmutableBuffer(tail)
            storage.writeStaticString("}\n\n")
            ranges.append(start..<storage.writerIndex)
        }
        let finishStart = storage.writerIndex
        storage.writeStaticString("data: {\"choices\":[{\"delta\":{\"content\":\"\"},\"index\":0,\"finish_reason\":")
        EmulatorJSON.string(generation.finishReason).write(into: &storage)
        storage.writeStaticString("}")
        storage.writeImmutableBuffer(tail)
        storage.writeStaticString(",\"usage\":")
        generation.usage.write(into: &storage)
        storage.writeStaticString("}\n\n")
        ranges.append(finishStart..<storage.writerIndex)
        let doneStart = storage.writerIndex
        storage.writeStaticString("data: [DONE]\n\n")
        ranges.append(doneStart..<storage.writerIndex)
        let events = ranges.map { storage.getSlice(at: $0.lowerBound, length: $0.count) ?? ByteBuffer() }
        return eventStream(events, request, allocator: allocator, api: .v1)
    }

    /// A streamed answer's response: the events, with the configured faults applied (a malformed event, a cut).
    func eventStream(
        _ events: [ByteBuffer],
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator,
        api: ChatRequest.API
    ) -> EmulatorResponse {
        var events = events
        let faults = state.faults
        if let malformed = faults.malformedEventAt, malformed <= events.count {
            var broken = allocator.buffer(capacity: 48)
            if api == .v2 { broken.writeStaticString("event: response.message.delta\n") }
            broken.writeStaticString("data: {\"choices\":[{\"delta\":{\"content\":\"\n\n")
            events[malformed - 1] = broken
            state.count { $0.malformedEvents += 1 }
        }
        return EmulatorResponse(
            status: .ok,
            headers: apiHeaders(for: request, contentType: "text/event-stream"),
            body: .events(
                EmulatorEventStream(
                    events: events,
                    firstEventDelay: TimeAmount(configuration.timeToFirstToken),
                    eventDelay: TimeAmount(configuration.chunkDelay),
                    cutAfter: faults.cutStreamAfterEvents.map { min($0, events.count - 1) }
                        ?? state.randomCut(eventCount: events.count)
                )
            )
        )
    }
}
