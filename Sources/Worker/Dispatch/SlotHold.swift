import Synchronization

/// The slot a running job holds: released at most once per acquisition.
final class SlotHold: Sendable {
    private let held = Mutex(true)
    private let dispatcher: Dispatcher

    init(dispatcher: Dispatcher) {
        self.dispatcher = dispatcher
    }

    func release() {
        let wasHeld = held.withLock { held -> Bool in
            defer { held = false }
            return held
        }
        if wasHeld { dispatcher.releaseSlot() }
    }

    /// Takes a slot again; `false` if the task was cancelled while waiting.
    func reacquire() async -> Bool {
        guard await dispatcher.acquireSlot() else { return false }
        held.withLock { $0 = true }
        return true
    }
}
