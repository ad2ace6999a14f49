import Synchronization

/// Keeps the first fatal error a client reported and tells the application once.
final class RDKafkaFatalErrorLatch: Sendable {
    private let stored = Mutex<KafkaError?>(nil)
    private let handler: (@Sendable (KafkaError) -> Void)?

    init(handler: (@Sendable (KafkaError) -> Void)?) {
        self.handler = handler
    }

    var error: KafkaError? { stored.withLock { $0 } }

    /// Records `error` if it is the first; the handler runs outside the lock, once.
    func record(_ error: KafkaError) {
        let isFirst = stored.withLock { stored -> Bool in
            guard stored == nil else { return false }
            stored = error
            return true
        }
        if isFirst { handler?(error) }
    }
}
