import DequeModule
import Foundation
import Kafka
import Synchronization

/// Holds admitted jobs and hands them out as GigaChat slots free up: the global bound on requests in flight.
///
/// - Admission is bounded in jobs and bytes: ``admit(_:)`` waits while the buffer is full, so the intake stops
///   reading, the consumer's own buffer fills and its partitions are paused; the poll thread never stops.
/// - A job starts when a slot is free (`running < limit`) and the ``KeyedScheduler`` says it may.
/// - A job that waits to retry gives its slot back and asks for one again with ``acquireSlot()``; such requests
///   go before new jobs, so retries are not starved by a full buffer.
/// - The limit can change while running (``setLimit(_:)``): the adaptive concurrency control uses it.
public final class Dispatcher: Sendable {
    private struct State {
        var scheduler: KeyedScheduler<AdmittedJob>
        var bufferedBytes = 0
        var running = 0
        var limit: Int
        var admitWaiters: Deque<(id: UInt64, job: AdmittedJob, continuation: CheckedContinuation<Bool, Never>)> = []
        var runnableWaiter: CheckedContinuation<AdmittedJob?, Never>?
        var slotWaiters: Deque<(id: UInt64, continuation: CheckedContinuation<Bool, Never>)> = []
        var nextID: UInt64 = 0
        var closed = false
    }

    private let state: Mutex<State>
    private let unitFreed = Mutex<(@Sendable () -> Void)?>(nil)
    /// Most jobs held (admitted, not started).
    public let maxBufferedJobs: Int
    /// Most bytes of job values held.
    public let maxBufferedBytes: Int

    /// Creates a dispatcher.
    /// - Parameters:
    ///   - limit: GigaChat requests in flight at most.
    ///   - perKey: Per-key order (`true`) or unordered.
    ///   - maxBufferedJobs: Most jobs held before ``admit(_:)`` waits.
    ///   - maxBufferedBytes: Most bytes held before ``admit(_:)`` waits (one job is always admitted).
    public init(limit: Int, perKey: Bool, maxBufferedJobs: Int, maxBufferedBytes: Int) {
        self.state = Mutex(State(scheduler: KeyedScheduler(perKey: perKey), limit: max(0, limit)))
        self.maxBufferedJobs = max(1, maxBufferedJobs)
        self.maxBufferedBytes = max(1, maxBufferedBytes)
    }

    private typealias Wakeups = (
        runnable: (CheckedContinuation<AdmittedJob?, Never>, AdmittedJob?)?,
        slots: [CheckedContinuation<Bool, Never>],
        admitted: [CheckedContinuation<Bool, Never>]
    )

    // MARK: - Intake side

    /// Adds a job, waiting while the buffer is full.
    /// - Returns: `false` when the dispatcher was closed (the job was not taken).
    public func admit(_ job: AdmittedJob) async -> Bool {
        let id = state.withLock { state -> UInt64? in
            if state.closed { return 0 }
            if hasRoom(state, for: job) && state.admitWaiters.isEmpty {
                state.scheduler.enqueue(job, key: job.schedulingKey)
                state.bufferedBytes += job.size
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else {
            wake(state.withLock { dispatch(&$0) })
            return true
        }
        if id == 0 { return false }
        return await withCheckedContinuation { continuation in
            let immediate = state.withLock { state -> Bool? in
                if state.closed { return false }
                state.admitWaiters.append((id, job, continuation))
                return nil
            }
            if let immediate {
                continuation.resume(returning: immediate)
            } else {
                wake(state.withLock { dispatch(&$0) })
            }
        }
    }

    private func hasRoom(_ state: State, for job: AdmittedJob) -> Bool {
        state.scheduler.count == 0
            || (state.scheduler.count < maxBufferedJobs && state.bufferedBytes + job.size <= maxBufferedBytes)
    }

    // MARK: - Dispatch side

    /// The next job to start, with a slot taken for it; waits for both. `nil` once closed.
    public func nextRunnable() async -> AdmittedJob? {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state -> (Bool, AdmittedJob?) in
                if state.closed { return (true, nil) }
                precondition(state.runnableWaiter == nil, "one dispatch loop at a time")
                state.runnableWaiter = continuation
                return (false, nil)
            }
            if resumeNow.0 {
                continuation.resume(returning: resumeNow.1)
            } else {
                wake(state.withLock { dispatch(&$0) })
            }
        }
    }

    /// Gives a slot back (the GigaChat call of a job ended).
    public func releaseSlot() {
        let (wakeups, freed) = state.withLock { state -> (Wakeups, Bool) in
            let surplus = state.running > state.limit
            state.running -= 1
            let wakeups = dispatch(&state)
            // The unit leaves this dispatcher's use: a lowered limit is draining, or the work ran short of it.
            let short = state.running + state.scheduler.count + state.slotWaiters.count < state.limit
            return (wakeups, surplus || short)
        }
        wake(wakeups)
        if freed, let action = unitFreed.withLock({ $0 }) { action() }
    }

    /// Called after ``releaseSlot()`` when the slot given back is a unit this dispatcher cannot use: more were
    /// running than the limit, or fewer jobs are left than the limit. The fleet budget reports it at once, so that
    /// another worker takes the unit without waiting for a tick. Not called while every unit has work.
    public func onUnitFreed(_ action: @escaping @Sendable () -> Void) {
        unitFreed.withLock { $0 = action }
    }

    /// Takes a slot again for a retry; waits for one, ahead of new jobs.
    /// - Returns: `false` if the waiting task was cancelled (no slot taken).
    public func acquireSlot() async -> Bool {
        let id = state.withLock { state -> UInt64? in
            if state.running < state.limit && state.slotWaiters.isEmpty {
                state.running += 1
                return nil
            }
            state.nextID += 1
            return state.nextID
        }
        guard let id else { return true }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let cancelled = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.slotWaiters.append((id, continuation))
                    return false
                }
                if cancelled {
                    continuation.resume(returning: false)
                } else {
                    wake(state.withLock { dispatch(&$0) })
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
                guard let index = state.slotWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.slotWaiters.remove(at: index).continuation
            }
            waiter?.resume(returning: false)
        }
    }

    /// Per-key mode: the job of `key` is finished (its completion acknowledged), so the next of the key may start.
    func finishKey(_ key: KeyedScheduler<AdmittedJob>.Key) {
        wake(
            state.withLock { state in
                state.scheduler.finish(key)
                return dispatch(&state)
            }
        )
    }

    /// Changes the bound on requests in flight (0 stops new ones, as while the account's circuit is open); running
    /// requests are not interrupted.
    public func setLimit(_ limit: Int) {
        wake(
            state.withLock { state in
                guard state.limit != max(0, limit) else { return (nil, [], []) }
                state.limit = max(0, limit)
                return dispatch(&state)
            }
        )
    }

    /// The current bound on requests in flight.
    public var limit: Int { state.withLock { $0.limit } }

    /// Requests in flight now, jobs held, and retries waiting for a slot.
    public var load: (running: Int, buffered: Int, retrying: Int) {
        state.withLock { ($0.running, $0.scheduler.count, $0.slotWaiters.count) }
    }

    /// Takes the held jobs whose own `deadline` has passed, so they can be answered `deadline_exceeded` without
    /// waiting for a slot that may not come (the account's circuit open, the limit at 0). No slot is taken; in
    /// per-key mode call ``finishKey(_:)`` once each one's completion is acknowledged.
    func takeExpired(now: Date = Date()) -> [AdmittedJob] {
        let (expired, wakeups) = state.withLock { state -> ([AdmittedJob], Wakeups) in
            let expired = state.scheduler.takeReady { job in job.job.deadline.map { $0 <= now } ?? false }
            guard !expired.isEmpty else { return ([], (nil, [], [])) }
            state.bufferedBytes -= expired.reduce(0) { $0 + $1.size }
            return (expired, dispatch(&state))
        }
        wake(wakeups)
        return expired
    }

    // MARK: - Revocation and shutdown

    /// Drops the held jobs of revoked partitions (they were never started; the next owner reads them again).
    /// - Parameter partitions: The ownerships that end.
    /// - Returns: How many were dropped.
    @discardableResult
    func dropJobs(ofPartitions partitions: Set<PartitionOwnership>) -> Int {
        let (dropped, wakeups) = state.withLock { state -> (Int, Wakeups) in
            let removed = state.scheduler.removeAll(ofPartitions: partitions)
            state.bufferedBytes -= removed.reduce(0) { $0 + $1.size }
            var refused: [CheckedContinuation<Bool, Never>] = []
            state.admitWaiters.removeAll { waiter in
                guard partitions.contains(waiter.job.ticket.ownership) else { return false }
                refused.append(waiter.continuation)
                return true
            }
            var wakeups = dispatch(&state)
            // A waiting admission of a revoked partition is answered "taken" so the intake moves on: the job is
            // dropped like the held ones.
            wakeups.admitted += refused
            return (removed.count + refused.count, wakeups)
        }
        wake(wakeups)
        return dropped
    }

    /// Stops handing out jobs: held jobs are dropped, waiting admissions refused, and ``nextRunnable()`` returns
    /// `nil`. Retries already running still get slots.
    public func close() {
        let (runnable, admits) = state.withLock {
            state -> (CheckedContinuation<AdmittedJob?, Never>?, [CheckedContinuation<Bool, Never>]) in
            state.closed = true
            _ = state.scheduler.removeAll()
            state.bufferedBytes = 0
            let admits = state.admitWaiters.map(\.continuation)
            state.admitWaiters.removeAll()
            return (state.runnableWaiter.take(), admits)
        }
        runnable?.resume(returning: nil)
        for admit in admits { admit.resume(returning: false) }
    }

    // MARK: - State machine

    /// Hands out what can be handed out now; the continuations are resumed outside the lock.
    private func dispatch(_ state: inout State) -> Wakeups {
        var wakeups: Wakeups = (nil, [], [])
        // Retries first.
        while state.running < state.limit, let waiter = state.slotWaiters.popFirst() {
            state.running += 1
            wakeups.slots.append(waiter.continuation)
        }
        if state.running < state.limit, state.slotWaiters.isEmpty, state.scheduler.hasReady,
            let waiter = state.runnableWaiter, let job = state.scheduler.popReady()
        {
            state.runnableWaiter = nil
            state.running += 1
            state.bufferedBytes -= job.size
            wakeups.runnable = (waiter, job)
        }
        // Admissions waiting for room, in order.
        while let first = state.admitWaiters.first, hasRoom(state, for: first.job) {
            state.admitWaiters.removeFirst()
            state.scheduler.enqueue(first.job, key: first.job.schedulingKey)
            state.bufferedBytes += first.job.size
            wakeups.admitted.append(first.continuation)
        }
        // An admission may have made a job ready for a waiting dispatch loop.
        if wakeups.runnable == nil, state.running < state.limit, state.slotWaiters.isEmpty,
            state.scheduler.hasReady, let waiter = state.runnableWaiter, let job = state.scheduler.popReady()
        {
            state.runnableWaiter = nil
            state.running += 1
            state.bufferedBytes -= job.size
            wakeups.runnable = (waiter, job)
        }
        return wakeups
    }

    private func wake(_ wakeups: Wakeups) {
        if let (continuation, job) = wakeups.runnable { continuation.resume(returning: job) }
        for slot in wakeups.slots { slot.resume(returning: true) }
        for admitted in wakeups.admitted { admitted.resume(returning: true) }
    }
}
