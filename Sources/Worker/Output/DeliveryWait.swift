import Kafka
import Synchronization

/// Waits for a delivery report in a way that task cancellation ends.
///
/// The report arrives once, on a producer thread, possibly before the wait starts; if the waiting task is
/// cancelled first, the wait ends with `.cancelled` and the later report is ignored (the record may still reach
/// the broker: what waits on it treats the outcome as unknown and publishes nothing more).
final class DeliveryWait: Sendable {
    typealias Report = Result<KafkaRecordMetadata, KafkaError>

    private struct State {
        var continuation: CheckedContinuation<Report, Never>?
        var report: Report?
    }

    private let state = Mutex(State())

    /// Records the report (the first one counts); the callback to give the producer.
    func resolve(_ report: Report) {
        let continuation = state.withLock { state -> CheckedContinuation<Report, Never>? in
            guard state.report == nil else { return nil }
            state.report = report
            return state.continuation.take()
        }
        continuation?.resume(returning: report)
    }

    /// The report, once it came; `.failure(.cancelled)` when the task is cancelled first.
    func value() async -> Report {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let early = state.withLock { state -> Report? in
                    if let report = state.report { return report }
                    state.continuation = continuation
                    return nil
                }
                if let early { continuation.resume(returning: early) }
            }
        } onCancel: {
            resolve(.failure(KafkaError(code: .cancelled, message: "The wait for the delivery report was cancelled")))
        }
    }
}
