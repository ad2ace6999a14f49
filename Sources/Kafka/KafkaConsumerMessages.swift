/// The messages of a ``KafkaConsumer``, fed in batches by its poll thread.
///
/// Ends (returns `nil`) when the consumer is closed; throws a ``KafkaError`` once if the consumer hit a fatal
/// error (after the messages fetched before it). Iterators hold no messages of their own: leaving a
/// `for try await` loop early loses nothing, the next iteration continues where it stopped. Cancelling the
/// waiting task ends that wait with `nil`. Several iterators may run at once; each message goes to exactly one.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    public typealias Failure = any Error

    let shared: RDKafkaConsumerShared

    /// Iterates the messages.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let shared: RDKafkaConsumerShared

        /// The next message, or `nil` once the consumer is closed (or the waiting task was cancelled).
        /// - Throws: ``KafkaError`` after a fatal consumer error.
        public mutating func next() async throws -> KafkaConsumerMessage? {
            try await shared.next()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(shared: shared)
    }
}
