import ArgumentParser
import Dispatch
import Foundation
import GigaChatEmulator
import Logging

/// `gigachat-worker emulator`: runs the local GigaChat emulator until SIGINT or SIGTERM.
struct EmulatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "emulator",
        abstract: "Run a local GigaChat-compatible server (OAuth, chat, SSE, models, embeddings) with fault injection.",
        discussion: """
            Prints GIGACHAT_BASE_URL and GIGACHAT_AUTH_URL lines once listening (eval-friendly), then serves until \
            SIGINT or SIGTERM. Any non-empty base64 authorization key is accepted unless --authorization-key or GIGACHAT_EMULATOR_AUTHORIZATION_KEYS is given.
            """
    )

    @Option(help: "Address to bind.")
    var host = "127.0.0.1"

    @Option(help: "Port to bind; 0 picks a free port.")
    var port = 0

    @Option(help: "Access token lifetime in seconds.")
    var tokenLifetime: Double = 1800

    @Option(help: "Delay before the first streamed event, in milliseconds.")
    var ttftMs: Int = 0

    @Option(help: "Delay between streamed events, in milliseconds.")
    var chunkDelayMs: Int = 0

    @Option(help: "Number of content events per streamed answer (default: one per word).")
    var chunkCount: Int?

    @Option(help: "Concurrent chat completions allowed per account; beyond it 429 (1 = personal account).")
    var concurrencyLimit: Int?

    @Option(help: "Fraction (0...1) of chat calls answered 500.")
    var errorRate: Double = 0

    @Option(help: "Fraction (0...1) of chat calls answered 429.")
    var rateLimitedRate: Double = 0

    @Option(help: "Fraction (0...1) of chat calls answered 503.")
    var unavailableRate: Double = 0

    @Option(help: "Retry-After seconds sent with every 429.")
    var retryAfter: Int?

    @Option(help: "Close streams after this many events (no [DONE]).")
    var cutStreamAfter: Int?

    @Option(help: "Fraction (0...1) of streams closed after a random number of events (no [DONE]).")
    var cutStreamRate: Double = 0

    @Option(help: "Send broken JSON as this streamed event (1-based).")
    var malformedEventAt: Int?

    @Option(help: "Comma-separated statuses answered to the first chat calls, e.g. 429,500.")
    var failFirst: String?

    @Option(help: "The account's balance in tokens: each answer uses its total_tokens; at 0, 402 until topped up.")
    var balance: Int?

    @Flag(help: "Start in an outage: every chat call is answered 503 (clear it with POST /admin/faults).")
    var outage = false

    @Option(help: "Extra OAuth latency in milliseconds.")
    var oauthDelayMs: Int = 0

    @Option(help: "OAuth calls allowed per second (the real endpoint allows 10); beyond it 429.")
    var oauthRateLimit: Int?

    @Option(
        help: ArgumentHelp(
            "Accepted authorization key (repeatable); default: any base64 key. Keys in the comma-separated "
                + "environment variable GIGACHAT_EMULATOR_AUTHORIZATION_KEYS are added (that keeps them out of ps)."
        )
    )
    var authorizationKey: [String] = []

    @Option(help: "A user:password accepted by POST /api/v1/token (repeatable).")
    var user: [String] = []

    @Option(help: "PEM certificate chain for HTTPS (with --tls-key).")
    var tlsCert: String?

    @Option(help: "PEM private key for HTTPS (with --tls-cert).")
    var tlsKey: String?

    @Option(help: "Event loop threads.")
    var threads: Int = GigaChatEmulatorConfiguration.defaultEventLoopThreads

    func validate() throws {
        if (tlsCert == nil) != (tlsKey == nil) {
            throw ValidationError("--tls-cert and --tls-key go together")
        }
        if let failFirst, parsedFailFirst(failFirst) == nil {
            throw ValidationError("--fail-first takes comma-separated HTTP statuses, e.g. 429,500")
        }
        for entry in user where !entry.contains(":") {
            throw ValidationError("--user takes user:password")
        }
        guard tokenLifetime > 0 else { throw ValidationError("--token-lifetime must be positive") }
    }

    private func parsedFailFirst(_ text: String) -> [Int]? {
        let parts = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard parts.allSatisfy({ $0 != nil }) else { return nil }
        return parts.compactMap { $0 }
    }

    func run() async throws {
        var users: [String: String] = [:]
        for entry in user {
            let parts = entry.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            users[String(parts[0])] = String(parts[1])
        }
        var acceptedKeys = Set(authorizationKey)
        if let fromEnvironment = ProcessInfo.processInfo.environment["GIGACHAT_EMULATOR_AUTHORIZATION_KEYS"] {
            acceptedKeys.formUnion(
                fromEnvironment.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            )
        }
        let faults = GigaChatEmulatorFaults(
            concurrencyLimitPerToken: concurrencyLimit,
            rateLimitedRate: rateLimitedRate,
            retryAfter: retryAfter,
            internalErrorRate: errorRate,
            unavailableRate: unavailableRate,
            cutStreamAfterEvents: cutStreamAfter,
            cutStreamRate: cutStreamRate,
            malformedEventAt: malformedEventAt,
            outage: outage,
            balanceTokens: balance,
            oauthDelay: .milliseconds(oauthDelayMs),
            oauthRequestsPerSecond: oauthRateLimit,
            failFirst: failFirst.flatMap(parsedFailFirst) ?? []
        )
        let configuration = GigaChatEmulatorConfiguration(
            host: host,
            port: port,
            tls: tlsCert.flatMap { cert in tlsKey.map { .init(certificateChainPath: cert, privateKeyPath: $0) } },
            authorizationKeys: acceptedKeys.isEmpty ? nil : acceptedKeys,
            users: users,
            tokenLifetime: .milliseconds(Int64(tokenLifetime * 1000)),
            timeToFirstToken: .milliseconds(ttftMs),
            chunkDelay: .milliseconds(chunkDelayMs),
            chunkCount: chunkCount,
            faults: faults,
            eventLoopThreads: threads
        )
        let emulator = GigaChatEmulator(configuration: configuration, logger: Logger(label: "gigachat.emulator"))
        let (signals, sources) = Self.terminationSignals()
        try await emulator.start()
        Self.say("GigaChat emulator listening (Ctrl-C to stop)")
        Self.say("GIGACHAT_BASE_URL=\(emulator.baseURL)")
        Self.say("GIGACHAT_AUTH_URL=\(emulator.authURL)")
        for await signal in signals {
            Self.say("Received signal \(signal), stopping")
            break
        }
        sources.forEach { $0.cancel() }
        let counters = emulator.counters
        try await emulator.shutdown()
        Self.say(
            "Served oauth=\(counters.oauthCalls) chat=\(counters.chatCalls) stream=\(counters.streamCalls) "
                + "completed=\(counters.completedChats) max_concurrent=\(counters.maxConcurrentChats)"
        )
    }

    /// Writes a line to stdout unbuffered, so a script reading the pipe sees the URLs at once.
    private static func say(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// SIGINT and SIGTERM as an async sequence, and the dispatch sources to cancel afterwards; the default
    /// handlers are turned off so the process stays alive to shut the emulator down.
    private static func terminationSignals() -> (AsyncStream<Int32>, [any DispatchSourceSignal]) {
        let (stream, continuation) = AsyncStream.makeStream(of: Int32.self)
        let queue = DispatchQueue(label: "gigachat-worker.emulator.signals")
        var sources: [any DispatchSourceSignal] = []
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { continuation.yield(signalNumber) }
            source.resume()
            sources.append(source)
        }
        return (stream, sources)
    }
}
