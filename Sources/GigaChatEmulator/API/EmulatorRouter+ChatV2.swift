import Foundation
import NIOCore
import NIOHTTP1

// MARK: - EmulatorRouter + v2 chat completions

/// `POST /api/v2/chat/completions` in the shape of the official SDK 0.2.3 (`models/chat_completions.py`) and its
/// recorded traffic: messages with content parts, options under `model_options`, functions under
/// `tools[].functions.specifications`, usage as `input_tokens`/`output_tokens`, streams of named events with no
/// `[DONE]`. The answer is the one v1 gives to the same conversation.
extension EmulatorRouter {
    /// v2's roles, as its recorded traffic and the SDK use them (v1's `function` is `tool` here).
    static let knownRolesV2: Set<String> = ["system", "user", "assistant", "tool"]

    func parseChatV2(_ json: EmulatorJSON) throws(Rejection) -> ChatRequest {
        guard json.objectValue != nil else { throw Rejection.invalid("request body must be a JSON object") }
        let model = try chatModel(json)
        guard let rawMessages = json["messages"]?.arrayValue, !rawMessages.isEmpty else {
            throw Rejection.invalid("messages must not be empty")
        }
        var messages: [(role: String, content: String)] = []
        var attachments: [[String]] = []
        for (index, raw) in rawMessages.enumerated() {
            let path = "messages[\(index)]"
            guard raw.objectValue != nil else { throw Rejection.invalid("\(path) must be an object") }
            guard let role = raw["role"]?.stringValue, Self.knownRolesV2.contains(role) else {
                throw Rejection.invalid("\(path).role is not a known role")
            }
            if role == "system", index != 0 {
                throw Rejection.invalid("system message must be the first message")
            }
            if role == "tool" {
                // As the recorded round trip sends it: the call's state id, and the result naming its function.
                guard raw["tools_state_id"]?.stringValue?.isEmpty == false else {
                    throw Rejection.invalid("\(path).tools_state_id is required for a tool message")
                }
                let results = raw["content"]?.arrayValue?.compactMap { $0["function_result"] } ?? []
                guard !results.isEmpty, results.allSatisfy({ $0["name"]?.stringValue?.isEmpty == false }) else {
                    throw Rejection.invalid("\(path).content must hold a function_result with a name")
                }
            }
            messages.append((role == "tool" ? "function" : role, try Self.contentText(raw["content"], path: path)))
            attachments.append(
                (raw["content"]?.arrayValue ?? []).flatMap { part in
                    (part["files"]?.arrayValue ?? []).compactMap { $0["id"]?.stringValue }
                }
            )
        }
        let options = json["model_options"] ?? .null
        guard options == .null || options.objectValue != nil else {
            throw Rejection.invalid("model_options must be an object")
        }
        let maxTokens = try samplingOptions(options, prefix: "model_options.")
        if let reasoning = options["reasoning"], reasoning != .null {
            guard reasoning.objectValue != nil, reasoning["effort"].map({ $0.stringValue != nil }) ?? true else {
                throw Rejection.invalid("model_options.reasoning must be {\"effort\": \"...\"}")
            }
        }
        let responseFormat = try Self.responseFormat(
            options["response_format"],
            path: "model_options.response_format",
            api: .v2
        )
        var functions: [ChatRequest.Function] = []
        if let tools = json["tools"], tools != .null {
            guard let list = tools.arrayValue else { throw Rejection.invalid("tools must be an array") }
            for (index, tool) in list.enumerated() {
                guard tool.objectValue != nil else { throw Rejection.invalid("tools[\(index)] must be an object") }
                guard let specifications = tool["functions"]?["specifications"] else { continue }  // a built-in tool
                guard let items = specifications.arrayValue else {
                    throw Rejection.invalid("tools[\(index)].functions.specifications must be an array")
                }
                functions += try Self.functions(items, path: "tools[\(index)].functions.specifications")
            }
        }
        var functionCall = ChatRequest.FunctionCallMode.auto
        if let config = json["tool_config"], config != .null {
            switch config["mode"]?.stringValue {
            case "auto", nil: break
            case "none": functionCall = .none
            case "forced":
                if let name = config["function_name"]?.stringValue {
                    guard functions.contains(where: { $0.name == name }) else {
                        throw Rejection.invalid("tool_config.function_name names a function that is not in tools")
                    }
                    functionCall = .named(name)
                } else if config["tool_name"]?.stringValue == nil {
                    throw Rejection.invalid("tool_config: mode forced needs function_name or tool_name")
                }
            default:
                throw Rejection.invalid("tool_config.mode must be auto, none or forced")
            }
        }
        return ChatRequest(
            model: model,
            messages: messages,
            stream: try streamFlag(json),
            maxTokens: maxTokens,
            functions: functions,
            functionCall: functionCall,
            api: .v2,
            responseFormat: responseFormat,
            attachments: attachments
        )
    }

    /// The text a v2 message's content parts carry: `text` parts joined, a `function_result` as its JSON result.
    static func contentText(_ content: EmulatorJSON?, path: String) throws(Rejection) -> String {
        guard let content, content != .null else { return "" }
        guard let parts = content.arrayValue else {
            throw Rejection.invalid("\(path).content must be an array of content parts")
        }
        var text = ""
        for (index, part) in parts.enumerated() {
            guard part.objectValue != nil else {
                throw Rejection.invalid("\(path).content[\(index)] must be an object")
            }
            switch part["text"] {
            case .none, .some(.null): break
            case .some(.string(let piece)): text += piece
            default: throw Rejection.invalid("\(path).content[\(index)].text must be a string")
            }
            if let result = part["function_result"]?["result"] {
                var buffer = ByteBufferAllocator().buffer(capacity: 64)
                result.write(into: &buffer)
                text += String(buffer: buffer)
            }
            if let files = part["files"], files != .null {
                guard let list = files.arrayValue, list.allSatisfy({ $0["id"]?.stringValue != nil }) else {
                    throw Rejection.invalid("\(path).content[\(index)].files must be [{\"id\": \"...\"}]")
                }
            }
        }
        return text
    }

    /// v1's usage object in v2's names.
    static func usageV2(_ usage: EmulatorJSON) -> EmulatorJSON {
        func number(_ key: String) -> EmulatorJSON { .number(Double(usage[key]?.intValue ?? 0)) }
        return .object([
            ("input_tokens", number("prompt_tokens")),
            (
                "input_tokens_details",
                .object([
                    ("prompt_tokens", number("prompt_tokens")), ("cached_tokens", number("precached_prompt_tokens")),
                ])
            ),
            ("output_tokens", number("completion_tokens")),
            ("total_tokens", number("total_tokens")),
        ])
    }

    /// The assistant message of a v2 answer (or of a stream's first delta).
    private static func messageV2(content: String, generation: Generation, withCall: Bool) -> EmulatorJSON {
        var parts: [EmulatorJSON] = []
        if withCall, let call = generation.functionCall {
            parts.append(.object([("function_call", call)]))
        } else {
            parts.append(.object([("text", .string(content))]))
        }
        var message: [(String, EmulatorJSON)] = [("role", .string("assistant")), ("content", .array(parts))]
        if withCall, let stateID = generation.functionsStateID { message.append(("tool_state_id", .string(stateID))) }
        return .object(message)
    }

    func wholeAnswerV2(
        _ chat: ChatRequest,
        _ generation: Generation,
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    )
        -> EmulatorResponse
    {
        let body = EmulatorJSON.object([
            ("model", .string(Self.versionedModel(chat.model))),
            ("created_at", .number(Double(Int(Date().timeIntervalSince1970)))),
            ("messages", .array([Self.messageV2(content: generation.content, generation: generation, withCall: true)])),
            ("finish_reason", .string(generation.finishReason)),
            ("usage", Self.usageV2(generation.usage)),
        ])
        var response = json(.ok, body, request, allocator: allocator)
        response.delay = generationTime(eventCount: contentChunks(of: generation).count + 1)
        return response
    }

    /// `event: response.message.delta` per piece of the answer, then `event: response.message.done` with the finish
    /// reason and usage; the body ends there.
    func streamedAnswerV2(
        _ chat: ChatRequest,
        _ generation: Generation,
        _ request: EmulatorRequest,
        allocator: ByteBufferAllocator
    )
        -> EmulatorResponse
    {
        let created = EmulatorJSON.number(Double(Int(Date().timeIntervalSince1970)))
        let model = EmulatorJSON.string(Self.versionedModel(chat.model))
        var events: [ByteBuffer] = []
        for (index, chunk) in contentChunks(of: generation).enumerated() {
            var message = Self.messageV2(content: chunk, generation: generation, withCall: index == 0)
            if index > 0, case .object(let members) = message {
                message = .object(members.filter { $0.0 != "role" })  // only the first delta names the role
            }
            var event = allocator.buffer(capacity: 128 + chunk.utf8.count)
            event.writeStaticString("event: response.message.delta\ndata: ")
            EmulatorJSON.object([("model", model), ("created_at", created), ("messages", .array([message]))])
                .write(into: &event)
            event.writeStaticString("\n\n")
            events.append(event)
        }
        var done = allocator.buffer(capacity: 256)
        done.writeStaticString("event: response.message.done\ndata: ")
        EmulatorJSON.object([
            ("model", model), ("created_at", created), ("finish_reason", .string(generation.finishReason)),
            ("usage", Self.usageV2(generation.usage)),
        ]).write(into: &done)
        done.writeStaticString("\n\n")
        events.append(done)
        return eventStream(events, request, allocator: allocator, api: .v2)
    }
}
