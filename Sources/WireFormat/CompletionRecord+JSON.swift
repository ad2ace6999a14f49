import GigaChat

// MARK: - CompletionRecord + JSON bytes

extension CompletionRecord {
    /// The record as published: the same fields and names as its `Codable` form, written directly.
    public var jsonBytes: [UInt8] {
        var json = JSONWriter(
            capacity: 256 + (content?.utf8.count ?? 0) + (embeddings?.reduce(0) { $0 + $1.count * 12 } ?? 0)
        )
        json.beginObject()
        json.key("id")
        json.string(id)
        json.key("status")
        json.string(status.rawValue)
        json.key("content")
        json.string(content)
        json.key("finish_reason")
        json.string(finishReason)
        if let functionCall {
            json.key("function_call")
            functionCall.write(into: &json)
        }
        if let parsed {
            json.key("parsed")
            json.value(parsed)
        }
        if let reasoningContent {
            json.key("reasoning_content")
            json.string(reasoningContent)
        }
        if let files {
            json.key("files")
            json.value(.array(files.map(JSONValue.string)))
        }
        if let embeddings {
            json.key("embeddings")
            json.beginArray()
            for vector in embeddings {
                json.beginArray()
                // At float precision, which embedding models compute in: about half the bytes of a double's digits.
                for number in vector { json.float(Float(number)) }
                json.endArray()
            }
            json.endArray()
        }
        json.key("usage")
        if let usage {
            json.beginObject()
            json.key("prompt_tokens")
            json.int(usage.promptTokens)
            json.key("completion_tokens")
            json.int(usage.completionTokens)
            json.key("total_tokens")
            json.int(usage.totalTokens)
            json.key("precached_prompt_tokens")
            json.int(usage.precachedPromptTokens)
            json.endObject()
        } else {
            json.null()
        }
        json.key("model")
        json.string(model)
        json.key("attempts")
        json.int(attempts)
        json.key("attempt_id")
        json.string(attemptID)
        json.key("latency_ms")
        json.int(latencyMilliseconds)
        json.key("ttft_ms")
        json.int(timeToFirstTokenMilliseconds)
        json.key("metadata")
        json.value(metadata)
        if let error {
            json.key("error")
            json.beginObject()
            json.key("code")
            json.string(error.code.rawValue)
            json.key("message")
            json.string(error.message)
            if let httpStatus = error.httpStatus {
                json.key("http_status")
                json.int(httpStatus)
            }
            json.endObject()
        }
        json.endObject()
        return json.bytes
    }
}
