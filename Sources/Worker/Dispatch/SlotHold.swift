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

    /// How waiting for a slot ended.
    enum Reacquired: Sendable, Equatable {
        case acquired
        /// The deadline passed first (no slot taken).
        case expired
        /// The task was cancelled (no slot taken).
        case cancelled
    }

    /// Takes a slot again, giving up at `deadline` (`nil`: waits until a slot frees up or the task is cancelled).
    func reacquire(until deadline: ContinuousClock.Instant?) async -> Reacquired {
        guard let deadline else { return taken(await dispatcher.acquireSlot()) }
        if ContinuousClock.now >= deadline { return .expired }
        let dispatcher = self.dispatcher
        // Both children end at once when the group is cancelled; the results come in the order they ended.
        let results = await withTaskGroup(of: Reacquired.self) { group -> [Reacquired] in
            group.addTask { await dispatcher.acquireSlot() ? .acquired : .cancelled }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .expired
                } catch {
                    return .cancelled
                }
            }
            var results: [Reacquired] = []
            if let first = await group.next() { results.append(first) }
            group.cancelAll()
            for await other in group { results.append(other) }
            return results
        }
        let acquired = results.contains(.acquired)
        if Task.isCancelled || results.first != .acquired {
            // A slot taken while the deadline passed (or the task was cancelled) goes back.
            if acquired { dispatcher.releaseSlot() }
            return Task.isCancelled ? .cancelled : .expired
        }
        return taken(true)
    }

    private func taken(_ acquired: Bool) -> Reacquired {
        guard acquired else { return .cancelled }
        held.withLock { $0 = true }
        return .acquired
    }
}
