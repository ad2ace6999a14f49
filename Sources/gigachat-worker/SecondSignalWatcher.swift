import Dispatch
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Exits at once on the second SIGTERM/SIGINT; the first one starts the graceful shutdown (ServiceLifecycle
/// watches the same signals).
final class SecondSignalWatcher {
    private let sources: [any DispatchSourceSignal]

    init() {
        let queue = DispatchQueue(label: "gigachat-worker.second-signal")
        let count = SignalCount()
        sources = [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                if count.increment() >= 2 {
                    CLIOutput.writeError("second signal: exiting without draining\n")
                    _exit(130)
                }
            }
            source.resume()
            return source
        }
    }

    func cancel() {
        for source in sources { source.cancel() }
    }
}

/// Signals received so far.
private final class SignalCount: Sendable {
    private let value = Mutex(0)

    func increment() -> Int {
        value.withLock { value in
            value += 1
            return value
        }
    }
}
