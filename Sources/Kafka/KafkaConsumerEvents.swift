/// The events of a ``KafkaConsumer``: assignments, revocations and errors.
///
/// Backed by a buffer of the newest 1024 events, so an application that never reads them loses only old ones.
/// Ends when the consumer is closed. All iterators read one stream: iterate from one task at a time.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    public typealias Failure = Never

    let stream: AsyncStream<KafkaConsumerEvent>

    /// Iterates the events.
    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: AsyncStream<KafkaConsumerEvent>.AsyncIterator

        /// The next event, or `nil` once the consumer is closed.
        public mutating func next() async -> KafkaConsumerEvent? {
            await base.next()
        }

        /// The next event, or `nil` once the consumer is closed.
        public mutating func next(isolation actor: isolated (any Actor)?) async -> KafkaConsumerEvent? {
            await base.next(isolation: actor)
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: stream.makeAsyncIterator())
    }
}
