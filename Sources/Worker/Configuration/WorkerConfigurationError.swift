/// An invalid configuration value: which key, what is wrong with it, what is allowed. Never contains secrets.
public struct WorkerConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key, as in the YAML file (`kafka.bootstrap_servers`).
    public var key: String
    /// What is wrong.
    public var problem: String
    /// What is allowed.
    public var allowed: String

    /// Creates an error.
    public init(key: String, problem: String, allowed: String) {
        self.key = key
        self.problem = problem
        self.allowed = allowed
    }

    public var description: String { "invalid configuration: \(key) \(problem) (allowed: \(allowed))" }
}
