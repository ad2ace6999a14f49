/// Why an input line or document cannot become a job; the message names the place and the problem.
public struct BatchInputError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
