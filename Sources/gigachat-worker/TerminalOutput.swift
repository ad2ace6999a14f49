import Foundation

/// Whether standard output is a terminal (progress bars) or a pipe/file (plain lines).
enum TerminalOutput {
    static var isInteractive: Bool { isatty(STDOUT_FILENO) == 1 }
}
