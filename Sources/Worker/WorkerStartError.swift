/// The worker cannot start: a problem no retry will fix (GigaChat rejects the credentials). Never contains secrets.
public struct WorkerStartError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, in one line.
    public var message: String

    /// Creates an error.
    public init(message: String) {
        self.message = message
    }

    public var description: String { message }
}
