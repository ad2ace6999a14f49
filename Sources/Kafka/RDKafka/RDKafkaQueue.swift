import CRdKafka

/// A reference to a librdkafka queue (`rd_kafka_queue_t`), here the consumer queue, used to wake a waiting poll.
///
/// Ownership: made from `rd_kafka_queue_get_consumer` (which takes a reference) and destroyed once, by
/// ``destroy()``, which the consumer's poll thread calls before it destroys the client.
///
/// `@unchecked Sendable`: one immutable pointer; `rd_kafka_queue_yield` is thread-safe. Callers hold the
/// consumer's state lock while yielding, and the poll thread takes the queue out of that state before destroying
/// it, so no yield can reach a destroyed queue.
final class RDKafkaQueue: @unchecked Sendable {
    private let pointer: OpaquePointer

    /// The consumer queue of `client` (after `rd_kafka_poll_set_consumer`), or `nil` if librdkafka has none.
    init?(consumerOf client: RDKafkaClient) {
        guard let pointer = rd_kafka_queue_get_consumer(client.handle) else { return nil }
        self.pointer = pointer
    }

    /// Makes a `rd_kafka_consumer_poll` waiting on this queue return at once.
    func yield() {
        rd_kafka_queue_yield(pointer)
    }

    /// Drops the reference; call once, before the client is destroyed.
    func destroy() {
        rd_kafka_queue_destroy(pointer)
    }
}
