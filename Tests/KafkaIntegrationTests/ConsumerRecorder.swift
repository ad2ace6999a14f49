import Foundation
import TestSupport
import Kafka
import Synchronization

/// Reads a consumer's messages and events in background tasks and keeps everything it saw, so tests can wait for
/// conditions with a deadline without ever cancelling the consumer's sequences.
///
/// An optional `handle` closure runs for each message before the next is read (tests commit there).
final class ConsumerRecorder: Sendable {
    /// One message as the test received it, with the time it arrived.
    struct Delivery: Sendable {
        var message: KafkaConsumerMessage
        var receivedAt: ContinuousClock.Instant
    }

    struct State: Sendable {
        var deliveries: [Delivery] = []
        var events: [KafkaConsumerEvent] = []
        /// The partitions assigned now, from the events (eager: each `assigned` is the whole assignment).
        var assignment: Set<KafkaTopicPartition> = []
        /// Commits that the broker acknowledged: the committed next offset and when the acknowledgement arrived.
        var commits: [(position: Position, completedAt: ContinuousClock.Instant)] = []
        /// Commits the broker refused, with librdkafka's error code.
        var failedCommits: [(description: String, rdKafkaCode: Int32?)] = []
        var messagesEnded = false
        var messagesError: String?
    }

    let consumer: KafkaConsumer
    let name: String
    private let state = Mutex(State())

    init(
        _ consumer: KafkaConsumer,
        name: String = "consumer",
        handle: (@Sendable (KafkaConsumerMessage, ConsumerRecorder) async -> Void)? = nil
    ) {
        self.consumer = consumer
        self.name = name
        Task { [self] in
            do {
                for try await message in consumer.messages {
                    state.withLock {
                        $0.deliveries.append(Delivery(message: message, receivedAt: ContinuousClock.Instant.now))
                    }
                    await handle?(message, self)
                }
                state.withLock { $0.messagesEnded = true }
            } catch {
                state.withLock {
                    $0.messagesError = "\(error)"
                    $0.messagesEnded = true
                }
            }
        }
        Task { [self] in
            for await event in consumer.events {
                state.withLock { state in
                    state.events.append(event)
                    switch event {
                    case .assigned(let partitions): state.assignment.formUnion(partitions)
                    case .revoked(let partitions): state.assignment.subtract(partitions)
                    case .error: break
                    }
                }
            }
        }
    }

    var snapshot: State { state.withLock { $0 } }
    var messages: [KafkaConsumerMessage] { state.withLock { $0.deliveries.map(\.message) } }
    var assignment: Set<KafkaTopicPartition> { state.withLock { $0.assignment } }

    /// Commits `message.offset + 1` if the consumer still owns the partition, and records the outcome.
    ///
    /// The ownership check keeps a member from committing a partition that already moved to another member
    /// (a "zombie" commit the broker would accept from the new generation and that could rewind the offset).
    func commitIfOwned(_ message: KafkaConsumerMessage) async {
        let partition = message.topicPartition
        guard (try? consumer.assignment.contains(partition)) == true else { return }
        do {
            try await consumer.commit([partition: message.offset + 1])
            let now = ContinuousClock.Instant.now
            state.withLock { $0.commits.append((Position(partition, message.offset + 1), now)) }
        } catch {
            state.withLock {
                $0.failedCommits.append(("\(partition) \(message.offset + 1): \(error)", error.rdKafkaCode))
            }
        }
    }

    /// Waits until `condition` holds for the recorded state, polling every 20 ms; false after `timeout`.
    @discardableResult
    func wait(timeout: Duration, until condition: (State) -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.Instant.now + timeout
        while true {
            if state.withLock({ condition($0) }) { return true }
            if ContinuousClock.Instant.now >= deadline { return false }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits until at least `count` messages arrived; false after `timeout`.
    @discardableResult
    func waitForMessages(_ count: Int, timeout: Duration) async throws -> Bool {
        try await wait(timeout: timeout) { $0.deliveries.count >= count }
    }
}

/// Waits until `condition` holds, polling every 20 ms; false after `timeout`.
func eventually(timeout: Duration, _ condition: () -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.Instant.now + timeout
    while true {
        if condition() { return true }
        if ContinuousClock.Instant.now >= deadline { return false }
        try await Task.sleep(for: .milliseconds(20))
    }
}
