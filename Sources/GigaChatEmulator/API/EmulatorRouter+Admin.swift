import Foundation
import NIOCore
import NIOHTTP1

// MARK: - EmulatorRouter + Admin

/// `GET/POST /admin/faults` and `GET /admin/counters`: change the faults of a running emulator from outside the
/// process (the demo, scripts, benchmarks), as ``GigaChatEmulator/updateFaults(_:)`` does in process.
///
/// `POST /admin/faults` takes a JSON object with any of the members below and changes only those; `null` clears
/// an optional one. It answers the faults in force, or 400 for an unknown member or an invalid value:
/// `outage` (bool), `balance_tokens` (int), `concurrency_limit` (int), `rate_limited_rate`, `internal_error_rate`,
/// `unavailable_rate`, `cut_stream_rate`, `invalid_structured_rate` (0...1), `retry_after` (s), `cut_stream_after_events`,
/// `malformed_event_at`, `oauth_delay_ms`, `oauth_requests_per_second`, `token_expiry_reported_late_ms` (ints),
/// `fail_first` (array of HTTP statuses). The admin routes need no token: the emulator is a local test server.
extension EmulatorRouter {
    func adminFaults(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        if request.method == .POST {
            let body: EmulatorJSON
            do {
                body = try EmulatorJSON.parse(request.body)
            } catch {
                return apiError(.badRequest, "Invalid JSON: \(error.message)", request, allocator: allocator)
            }
            guard let members = body.objectValue else {
                return apiError(.badRequest, "expected a JSON object", request, allocator: allocator)
            }
            var faults = state.faults
            for (name, value) in members {
                guard Self.apply(name, value, to: &faults) else {
                    return apiError(.badRequest, "invalid or unknown member \(name)", request, allocator: allocator)
                }
            }
            do {
                try faults.validate()
            } catch {
                return apiError(.badRequest, error.message, request, allocator: allocator)
            }
            state.updateFaults(faults)
        }
        return json(.ok, Self.describe(state.faults), request, allocator: allocator)
    }

    func adminCounters(_ request: EmulatorRequest, allocator: ByteBufferAllocator) -> EmulatorResponse {
        let counters = state.counters
        let members: [(String, Int)] = [
            ("oauth_calls", counters.oauthCalls), ("chat_calls", counters.chatCalls),
            ("stream_calls", counters.streamCalls), ("v2_chat_calls", counters.v2ChatCalls),
            ("completed_chats", counters.completedChats), ("cached_prompt_tokens", counters.cachedPromptTokens),
            ("rate_limited", counters.rateLimited), ("concurrency_rejections", counters.concurrencyRejections),
            ("injected_errors", counters.injectedErrors), ("payment_required", counters.paymentRequired),
            ("cut_streams", counters.cutStreams), ("current_concurrent_chats", counters.currentConcurrentChats),
            ("max_concurrent_chats", counters.maxConcurrentChats),
        ]
        let object = members.map { ($0.0, EmulatorJSON.number(Double($0.1))) }
        return json(
            .ok,
            .object(object + [("concurrent_chat_seconds", .number(counters.concurrentChatSeconds))]),
            request,
            allocator: allocator
        )
    }

    private static func optionalInt(_ value: EmulatorJSON) -> Int?? {
        if case .null = value { return .some(nil) }
        guard let number = value.intValue else { return nil }
        return .some(number)
    }

    /// Applies one member; `false` when the name is unknown or the value has the wrong type.
    private static func apply(_ name: String, _ value: EmulatorJSON, to faults: inout GigaChatEmulatorFaults) -> Bool {
        switch name {
        case "outage":
            guard let flag = value.boolValue else { return false }
            faults.outage = flag
        case "balance_tokens":
            guard let number = optionalInt(value) else { return false }
            faults.balanceTokens = number
        case "concurrency_limit":
            guard let number = optionalInt(value) else { return false }
            faults.concurrencyLimitPerToken = number
        case "retry_after":
            guard let number = optionalInt(value) else { return false }
            faults.retryAfter = number
        case "cut_stream_after_events":
            guard let number = optionalInt(value) else { return false }
            faults.cutStreamAfterEvents = number
        case "malformed_event_at":
            guard let number = optionalInt(value) else { return false }
            faults.malformedEventAt = number
        case "oauth_requests_per_second":
            guard let number = optionalInt(value) else { return false }
            faults.oauthRequestsPerSecond = number
        case "rate_limited_rate", "internal_error_rate", "unavailable_rate", "cut_stream_rate",
            "invalid_structured_rate":
            guard case .number(let rate) = value else { return false }
            switch name {
            case "rate_limited_rate": faults.rateLimitedRate = rate
            case "internal_error_rate": faults.internalErrorRate = rate
            case "unavailable_rate": faults.unavailableRate = rate
            case "invalid_structured_rate": faults.invalidStructuredRate = rate
            default: faults.cutStreamRate = rate
            }
        case "oauth_delay_ms":
            guard let number = value.intValue else { return false }
            faults.oauthDelay = .milliseconds(number)
        case "token_expiry_reported_late_ms":
            guard let number = value.intValue else { return false }
            faults.tokenExpiryReportedLate = .milliseconds(number)
        case "fail_first":
            guard let items = value.arrayValue else { return false }
            let statuses = items.compactMap(\.intValue)
            guard statuses.count == items.count else { return false }
            faults.failFirst = statuses
        default:
            return false
        }
        return true
    }

    private static func describe(_ faults: GigaChatEmulatorFaults) -> EmulatorJSON {
        func optional(_ value: Int?) -> EmulatorJSON { value.map { .number(Double($0)) } ?? .null }
        func milliseconds(_ duration: Duration) -> EmulatorJSON {
            .number(
                Double(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
            )
        }
        return .object([
            ("outage", .bool(faults.outage)),
            ("balance_tokens", optional(faults.balanceTokens)),
            ("concurrency_limit", optional(faults.concurrencyLimitPerToken)),
            ("rate_limited_rate", .number(faults.rateLimitedRate)),
            ("internal_error_rate", .number(faults.internalErrorRate)),
            ("unavailable_rate", .number(faults.unavailableRate)),
            ("cut_stream_rate", .number(faults.cutStreamRate)),
            ("invalid_structured_rate", .number(faults.invalidStructuredRate)),
            ("retry_after", optional(faults.retryAfter)),
            ("cut_stream_after_events", optional(faults.cutStreamAfterEvents)),
            ("malformed_event_at", optional(faults.malformedEventAt)),
            ("oauth_delay_ms", milliseconds(faults.oauthDelay)),
            ("oauth_requests_per_second", optional(faults.oauthRequestsPerSecond)),
            ("token_expiry_reported_late_ms", milliseconds(faults.tokenExpiryReportedLate)),
            ("fail_first", .array(faults.failFirst.map { .number(Double($0)) })),
        ])
    }
}
