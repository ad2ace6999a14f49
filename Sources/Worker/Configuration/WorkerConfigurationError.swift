/// An invalid configuration: which key, what is wrong with it, what is allowed — and every further problem found
/// in the same load (``others``), so one run of `config check` names them all. Never contains secrets.
public struct WorkerConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The key, as in the YAML file (`kafka.bootstrap_servers`).
    public var key: String
    /// What is wrong.
    public var problem: String
    /// What is allowed.
    public var allowed: String
    /// The other problems found in the same load, in the order found.
    public var others: [WorkerConfigurationError] = []

    /// Creates an error.
    public init(key: String, problem: String, allowed: String) {
        self.key = key
        self.problem = problem
        self.allowed = allowed
    }

    /// The first problem carrying the rest, or `nil` when there are none.
    init?(combining problems: [WorkerConfigurationError]) {
        guard var first = problems.first else { return nil }
        first.others += problems.dropFirst().flatMap { [$0.withoutOthers] + $0.others }
        self = first
    }

    /// Every problem: this one and ``others``.
    public var all: [WorkerConfigurationError] { [withoutOthers] + others }

    private var withoutOthers: WorkerConfigurationError {
        var single = self
        single.others = []
        return single
    }

    private var line: String { "\(key) \(problem) (allowed: \(allowed))" }

    public var description: String {
        guard !others.isEmpty else { return "invalid configuration: \(line)" }
        return "invalid configuration (\(others.count + 1) problems):\n" + all.map { "  - \($0.line)" }.joined(separator: "\n")
    }
}
