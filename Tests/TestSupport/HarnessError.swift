/// A failure of the test harness itself (broker or tool could not start, timeouts).
public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
