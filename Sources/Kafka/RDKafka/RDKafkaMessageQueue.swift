/// A FIFO of messages: an array with a moving head, compacted when the consumed part dominates.
struct RDKafkaMessageQueue {
    private var storage: [KafkaConsumerMessage] = []
    private var head = 0

    var count: Int { storage.count - head }

    mutating func popFirst() -> KafkaConsumerMessage? {
        guard head < storage.count else { return nil }
        let message = storage[head]
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 4096 && head * 2 >= storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return message
    }

    mutating func append(_ message: KafkaConsumerMessage) {
        storage.append(message)
    }

    mutating func append(contentsOf messages: some Collection<KafkaConsumerMessage>) {
        storage.append(contentsOf: messages)
    }

    mutating func removeAll() {
        storage = []
        head = 0
    }

    mutating func removeAll(where shouldRemove: (KafkaConsumerMessage) -> Bool) {
        storage.removeFirst(head)
        head = 0
        storage.removeAll(where: shouldRemove)
    }
}
