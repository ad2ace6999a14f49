import Kafka

/// Where the worker's outputs are handed over: the worker's ``KafkaProducer``, or a recording double in unit tests.
///
/// The one seam between the pipeline and the broker on the way out: ``OutcomePublisher`` and ``PartialStream``
/// reach Kafka only through it.
protocol OutputSink: Sendable {
    /// Hands a record over without waiting for the broker.
    /// - Parameter onDelivery: Called exactly once with the broker's answer, unless this throws.
    /// - Throws: ``KafkaError`` when the record is refused at once: `.queueFull` (try again shortly),
    ///   `.messageTooLarge`, `.unknownTopic`, `.closed`, or a fatal error.
    func enqueue(
        _ record: KafkaProducerRecord,
        onDelivery: @escaping @Sendable (Result<KafkaRecordMetadata, KafkaError>) -> Void
    ) throws(KafkaError)
}

extension KafkaProducer: OutputSink {}
