/// The one error type of the GigaChatEmulator module: start-up and configuration failures.
public struct GigaChatEmulatorError: Error, Sendable, CustomStringConvertible {
    /// What went wrong; extensible without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: Hashable, Sendable {
            case invalidConfiguration
            case tlsSetupFailed
            case bindFailed
            case notStarted
            case alreadyStarted
        }

        private let value: Value

        private init(_ value: Value) {
            self.value = value
        }

        /// A configuration value cannot work (a negative delay, a rate outside 0...1, ...).
        public static let invalidConfiguration = Code(.invalidConfiguration)
        /// The TLS certificate chain or key could not be loaded.
        public static let tlsSetupFailed = Code(.tlsSetupFailed)
        /// The listening socket could not be bound.
        public static let bindFailed = Code(.bindFailed)
        /// The operation needs a started emulator.
        public static let notStarted = Code(.notStarted)
        /// `start()` was called twice.
        public static let alreadyStarted = Code(.alreadyStarted)

        public var description: String {
            switch value {
            case .invalidConfiguration: "invalidConfiguration"
            case .tlsSetupFailed: "tlsSetupFailed"
            case .bindFailed: "bindFailed"
            case .notStarted: "notStarted"
            case .alreadyStarted: "alreadyStarted"
            }
        }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation (never contains keys or tokens).
    public var message: String
    /// The underlying error, when there is one.
    public var cause: (any Error)?

    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - message: What happened.
    ///   - cause: The underlying error, if any.
    public init(code: Code, message: String, cause: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// Start-up errors are not retriable except a bind failure (the port may become free).
    public var isRetriable: Bool { code == .bindFailed }

    public var description: String {
        if let cause { return "GigaChatEmulatorError.\(code): \(message) (\(cause))" }
        return "GigaChatEmulatorError.\(code): \(message)"
    }
}
