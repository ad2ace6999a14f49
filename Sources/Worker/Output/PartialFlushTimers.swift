import NIOCore
import NIOPosix

/// The partial streams' flush timers: one NIO timer per event loop and 5 ms slot, not one per stream.
///
/// Why (issue 17): at 1,000 streams each stream armed a timer of its own about ten times a second, and every
/// timer that fired was taken off the loop's heap of scheduled tasks — a heap as deep as the connections' timers
/// make it, whose sift copies each task it moves. That was 5 % of the worker's CPU. Here a stream's flush joins the
/// slot its due time falls in (rounded up to the next 5 ms); the first stream in a slot schedules the slot's one
/// timer, which flushes them all. A flush is thus at most one slot late.
///
/// Each event-loop thread has its own set (a thread-specific variable), touched only on that thread: a stream
/// whose deltas arrive on a loop is flushed on it, with no lock and no hop.
final class PartialFlushTimers {
    /// The width of a slot.
    static let slot = TimeAmount.milliseconds(5)

    /// Each value is touched only on its own thread (see the type's notes).
    private nonisolated(unsafe) static let perThread = ThreadSpecificVariable<PartialFlushTimers>()

    private let loop: any EventLoop
    /// The streams waiting in each slot, by slot number (due time / slot width, rounded up).
    private var slots: [UInt64: [PartialStream]] = [:]

    private init(loop: any EventLoop) {
        self.loop = loop
    }

    /// Has `stream.flushDue()` called on the current event loop at `due` or at most one slot later; off any loop,
    /// on one of the process's loops. (A timer that cannot run, its loop shutting down, hands the stream back with
    /// ``PartialStream/timerLost()``: its text goes out with its next delta or its final partial.)
    static func schedule(_ stream: PartialStream, at due: NIODeadline) {
        if let loop = MultiThreadedEventLoopGroup.currentEventLoop {
            timers(on: loop).add(stream, at: due)
        } else {
            let loop = MultiThreadedEventLoopGroup.singleton.any()
            loop.execute { timers(on: loop).add(stream, at: due) }
        }
    }

    /// The current thread's set (`loop` is the thread's event loop).
    private static func timers(on loop: any EventLoop) -> PartialFlushTimers {
        if let timers = perThread.currentValue { return timers }
        let timers = PartialFlushTimers(loop: loop)
        perThread.currentValue = timers
        return timers
    }

    private func add(_ stream: PartialStream, at due: NIODeadline) {
        // In unsigned nanoseconds, rounded up without overflow (a due time far off is `distantFuture`, Int64.max).
        let width = UInt64(Self.slot.nanoseconds)
        let number = due.uptimeNanoseconds / width + (due.uptimeNanoseconds % width == 0 ? 0 : 1)
        if self.slots[number]?.append(stream) != nil { return }
        self.slots[number] = [stream]
        let deadline = NIODeadline.uptimeNanoseconds(
            number.multipliedReportingOverflow(by: width).overflow ? .max : number * width
        )
        let task = self.loop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: deadline) { [self] in
            for stream in self.slots.removeValue(forKey: number) ?? [] { stream.flushDue() }
        }
        task.futureResult.assumeIsolatedUnsafeUnchecked().whenFailure { [self] _ in
            for stream in self.slots.removeValue(forKey: number) ?? [] { stream.timerLost() }
        }
    }
}
