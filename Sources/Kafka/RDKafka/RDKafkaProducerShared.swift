import CRdKafka
import Logging
import Synchronization

/// State shared by a ``KafkaProducer`` and its poll thread.
///
/// The client reference lives here until close is requested; from then on the poll thread holds the last one
/// and destroys the client when its loop ends (destroying joins librdkafka threads: never on the pool).
final class RDKafkaProducerShared: Sendable {
    private struct State {
        var client: RDKafkaClient?
        var closeTimeout: Duration?
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
        var isClosed = false
    }

    private let state: Mutex<State>
    /// The fatal error, once librdkafka reported one.
    let fatal: RDKafkaFatalErrorLatch

    init(client: RDKafkaClient, fatal: RDKafkaFatalErrorLatch) {
        state = Mutex(State(client: client))
        self.fatal = fatal
    }

    var client: RDKafkaClient? { state.withLock { $0.client } }

    /// Hands a record to librdkafka. The lock is held across `rd_kafka_producev` (about a microsecond) so no
    /// record can slip in after close started purging: every accepted record gets its report.
    func produce(_ record: KafkaProducerRecord, report: RDKafkaDeliveryReport) throws(KafkaError) {
        if let error = fatal.error { throw error }
        let opaque = Unmanaged.passRetained(report).toOpaque()
        let headers = Self.makeHeaders(record.headers)
        let err: rd_kafka_resp_err_t
        do throws(KafkaError) {
            err = try state.withLock { state throws(KafkaError) -> rd_kafka_resp_err_t in
                guard let client = state.client else { throw KafkaError.closed("The producer") }
                let topic = try client.topic(record.topic)
                return Self.withBytes(record.key) { key, keyCount in
                    Self.withBytes(record.value) { value, valueCount in
                        gw_rd_kafka_produce(
                            client.handle,
                            topic,
                            record.partition ?? RD_KAFKA_PARTITION_UA,
                            key,
                            keyCount,
                            value,
                            valueCount,
                            headers,
                            opaque
                        )
                    }
                }
            }
        } catch {
            Unmanaged<RDKafkaDeliveryReport>.fromOpaque(opaque).release()
            if let headers { rd_kafka_headers_destroy(headers) }
            throw error
        }
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            // Refused: the report and the headers are still ours.
            Unmanaged<RDKafkaDeliveryReport>.fromOpaque(opaque).release()
            if let headers { rd_kafka_headers_destroy(headers) }
            throw KafkaError.rdKafka(
                err,
                fallback: .delivery,
                context: "Record for topic \"\(record.topic)\" was refused"
            )
        }
    }

    /// Asks the poll thread to close; `waiter` resumes once the client is destroyed.
    func requestClose(timeout: Duration, waiter: CheckedContinuation<Void, Never>?) {
        let resumeNow = state.withLock { state -> Bool in
            if state.isClosed { return true }
            if let waiter { state.closeWaiters.append(waiter) }
            if state.closeTimeout == nil {
                state.closeTimeout = timeout
                state.client = nil
            }
            return false
        }
        if resumeNow { waiter?.resume() }
    }

    private var closeTimeout: Duration? { state.withLock { $0.closeTimeout } }

    /// The poll thread: serves delivery reports until close is requested, then flushes, purges what is left,
    /// serves those reports too, and destroys the client (by dropping the last reference).
    static func pollLoop(client reference: Unmanaged<RDKafkaClient>, shared: RDKafkaProducerShared) {
        serveAndClose(client: reference.takeRetainedValue(), shared: shared)
        // The client is gone (its deinit ran above, on this thread, unless a flush still held it).
        let waiters = shared.state.withLock { state in
            state.isClosed = true
            defer { state.closeWaiters.removeAll() }
            return state.closeWaiters
        }
        for waiter in waiters { waiter.resume() }
    }

    private static func serveAndClose(client: RDKafkaClient, shared: RDKafkaProducerShared) {
        let handle = client.handle
        var requested = shared.closeTimeout
        while requested == nil {
            rd_kafka_poll(handle, 100)
            requested = shared.closeTimeout
        }
        let (seconds, attoseconds) = (requested ?? .zero).components
        let milliseconds = Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
        if milliseconds > 0 && rd_kafka_outq_len(handle) > 0 {
            _ = rd_kafka_flush(handle, milliseconds)
        }
        let remaining = rd_kafka_outq_len(handle)
        if remaining > 0 {
            client.context.logger.warning(
                "Closing the producer with records still queued; they fail with .closed",
                metadata: ["outstanding": .stringConvertible(remaining)]
            )
            rd_kafka_purge(handle, Int32(RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT))
        }
        // Serve the reports of purged records; in-flight requests finish within a few seconds at most.
        let deadline = ContinuousClock.now + .seconds(10)
        while rd_kafka_outq_len(handle) > 0 && ContinuousClock.now < deadline {
            rd_kafka_poll(handle, 50)
        }
        rd_kafka_poll(handle, 0)
    }

    // Never written to; only its address matters (a non-null pointer for empty keys and values).
    nonisolated(unsafe) private static let emptyByte = UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 1)

    /// Calls `body` with the bytes of `bytes`: `nil` stays a null pointer, an empty array a non-null one (Kafka
    /// tells a null key/value from an empty one).
    private static func withBytes<Result>(_ bytes: [UInt8]?, _ body: (UnsafeRawPointer?, Int) -> Result) -> Result {
        guard let bytes else { return body(nil, 0) }
        if bytes.isEmpty { return body(UnsafeRawPointer(emptyByte), 0) }
        return bytes.withUnsafeBytes { body($0.baseAddress, $0.count) }
    }

    /// A new `rd_kafka_headers_t` (owned by the caller until produce succeeds), or `nil` for no headers.
    private static func makeHeaders(_ headers: [KafkaHeader]) -> OpaquePointer? {
        guard !headers.isEmpty else { return nil }
        let list = rd_kafka_headers_new(headers.count)!
        for header in headers {
            _ = withBytes(header.value) { value, count in
                rd_kafka_header_add(list, header.key, header.key.utf8.count, value, count)
            }
        }
        return list
    }
}
