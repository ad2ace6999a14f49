/// A prepared error response carried through `Result` (responses themselves are not errors).
struct EmulatorErrorResponse: Error {
    var response: EmulatorResponse

    init(_ response: EmulatorResponse) {
        self.response = response
    }
}
