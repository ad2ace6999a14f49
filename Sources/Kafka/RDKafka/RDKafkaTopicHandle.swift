/// An `rd_kafka_topic_t` owned by an ``RDKafkaClient``'s topic cache.
///
/// `@unchecked Sendable`: a plain pointer to a reference-counted, thread-safe librdkafka object that lives as
/// long as its client.
struct RDKafkaTopicHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}
