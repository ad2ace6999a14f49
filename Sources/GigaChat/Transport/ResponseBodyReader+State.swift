import AsyncHTTPClient
import NIOCore
import Synchronization

extension ResponseBodyReader {
    /// AsyncHTTPClient's body iterator, handed to the read task.
    ///
    /// `@unchecked Sendable`: the iterator is used by one read at a time — the reader awaits each read task before
    /// it starts the next, so the box is never touched concurrently.
    final class BodyIterator: @unchecked Sendable {
        private var iterator: HTTPClientResponse.Body.AsyncIterator

        init(_ iterator: HTTPClientResponse.Body.AsyncIterator) {
            self.iterator = iterator
        }

        func next() async throws -> ByteBuffer? {
            try await self.iterator.next()
        }
    }

    /// What the timer and the reading task share: whether the deadline passed, and how to cancel the read then.
    final class DeadlineState: Sendable {
        private struct Fields {
            var expired = false
            var cancelRead: (@Sendable () -> Void)?
        }

        private let fields = Mutex(Fields())

        var isExpired: Bool { self.fields.withLock { $0.expired } }

        /// Marks the deadline passed and cancels the read in progress, if any (outside the lock).
        func expire() {
            let cancel = self.fields.withLock { fields in
                fields.expired = true
                return fields.cancelRead.take()
            }
            cancel?()
        }

        /// Records how to cancel the read in progress; `false` if the deadline already passed.
        func register(_ cancel: @escaping @Sendable () -> Void) -> Bool {
            self.fields.withLock { fields in
                guard !fields.expired else { return false }
                fields.cancelRead = cancel
                return true
            }
        }

        func unregister() {
            self.fields.withLock { $0.cancelRead = nil }
        }
    }
}
