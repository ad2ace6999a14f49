import Foundation

/// Output of the one-off commands.
enum CLIOutput {
    /// Writes to stdout; a closed pipe (`| head`) is not an error worth crashing for.
    static func write(_ text: String) {
        try? FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
    }

    static func writeError(_ text: String) {
        try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
    }
}
