import Kafka
import Synchronization

/// Lets the offset tracker and the revocation handler reach the consumer they are given to (both are made before
/// it).
final class ConsumerReference: Sendable {
    private let stored = Mutex<KafkaConsumer?>(nil)
    var consumer: KafkaConsumer? {
        get { stored.withLock { $0 } }
        set { stored.withLock { $0 = newValue } }
    }
}
