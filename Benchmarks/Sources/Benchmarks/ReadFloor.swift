import Foundation
import NIOCore
import NIOPosix
import Synchronization

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// What reading the same streams costs with nothing done to the bytes: the floor under any client built on NIO.
///
/// The same number of connections as the setting, each sending the same streamed chat request to the same emulator
/// on a keep-alive connection and, when the answer's last chunk arrives, the next one. The bytes are counted and
/// dropped: no HTTP parsing, no SSE, no JSON, no Kafka. What is left is the socket read (and the ACK the kernel sends
/// from it), epoll, and NIO's loop and channel. CPU is this process's, over the same steady window as the rest of
/// the benchmark (issue 17: where 6 µs an event at 1,000 streams stands against it).
enum ReadFloor {
    struct Result {
        var requestsPerSecond: Double
        var cpuPerRequest: Double
    }

    static func measure(
        emulator: GigaChatEmulatorProcess,
        credentials: String,
        prompt: String,
        connections: Int,
        requests: Int
    ) async throws -> Result {
        let token = try await accessToken(emulator: emulator, credentials: credentials)
        let body = try JSONSerialization.data(withJSONObject: [
            "model": "GigaChat", "stream": true, "messages": [["role": "user", "content": prompt]],
        ])
        var request = Array(
            ("POST /api/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:\(emulator.port)\r\n"
                + "Authorization: Bearer \(token)\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n"
                + "Content-Length: \(body.count)\r\n\r\n").utf8
        )
        request.append(contentsOf: body)
        let shared = Shared(request: request, limit: requests)

        let group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        let bootstrap = ClientBootstrap(group: group)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(DiscardingStreamReader(shared: shared))
                }
            }
        var channels: [any Channel] = []
        for _ in 0..<connections where shared.started.take(below: requests) {
            channels.append(try await bootstrap.connect(host: "127.0.0.1", port: emulator.port).get())
        }
        // A refused request ends the window at once (its count jumps to the end) and is thrown below.
        let (opened, closed) = try await WorkerBenchmarks.steadyWindow(
            of: requests,
            count: { shared.failure.text == nil ? shared.answered.value : requests },
            cpu: { [ProcessStats.selfCPUSeconds()] }
        )
        for channel in channels { try? await channel.close() }
        try await group.shutdownGracefully()
        if let failure = shared.failure.text { throw BenchmarkError("read floor: \(failure)") }
        let answered = Double(closed.count - opened.count)
        return Result(
            requestsPerSecond: answered / KafkaBenchmarks.seconds(of: closed.instant - opened.instant),
            cpuPerRequest: (closed.cpu[0] - opened.cpu[0]) * 1000 / answered
        )
    }

    /// The state the connections share.
    final class Shared: Sendable {
        let request: [UInt8]
        let limit: Int
        /// Requests sent.
        let started = Tally()
        /// Answers read to their end.
        let answered = Tally()
        /// The first answer that was not a 200.
        let failure = FirstFailure()

        init(request: [UInt8], limit: Int) {
            self.request = request
            self.limit = limit
        }
    }

    /// Drops what it reads; at the end of a chunked answer (`0\r\n\r\n`) sends the next request, if one is left.
    final class DiscardingStreamReader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        private let shared: Shared
        /// The last bytes read, for a terminator split across reads.
        private var tail: [UInt8] = []
        /// Whether the next bytes start an answer (its status line).
        private var awaitingAnswer = false
        private static let terminator: [UInt8] = Array("0\r\n\r\n".utf8)
        private static let ok: [UInt8] = Array("HTTP/1.1 200".utf8)

        init(shared: Shared) {
            self.shared = shared
        }

        func channelActive(context: ChannelHandlerContext) {
            send(context: context)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            if awaitingAnswer {
                awaitingAnswer = false
                guard buffer.readableBytesView.starts(with: Self.ok) else {
                    shared.failure.note(BenchmarkError(String(buffer: buffer).prefix(200).description))
                    context.close(promise: nil)
                    return
                }
            }
            buffer.withUnsafeReadableBytes { bytes in
                tail.append(contentsOf: bytes.suffix(Self.terminator.count))
                if tail.count > Self.terminator.count { tail.removeFirst(tail.count - Self.terminator.count) }
            }
            guard tail == Self.terminator else { return }
            tail.removeAll(keepingCapacity: true)
            shared.answered.add()
            if shared.started.take(below: shared.limit) { send(context: context) }
        }

        private func send(context: ChannelHandlerContext) {
            awaitingAnswer = true
            var buffer = context.channel.allocator.buffer(capacity: shared.request.count)
            buffer.writeBytes(shared.request)
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        }
    }

    /// An access token from the emulator's OAuth endpoint.
    static func accessToken(emulator: GigaChatEmulatorProcess, credentials: String) async throws -> String {
        var request = URLRequest(url: URL(string: emulator.authURL)!)
        request.httpMethod = "POST"
        request.setValue("Basic \(credentials)", forHTTPHeaderField: "Authorization")
        request.setValue(UUID().uuidString.lowercased(), forHTTPHeaderField: "RqUID")
        request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "Content-Type")
        request.httpBody = Data("scope=GIGACHAT_API_PERS".utf8)
        let (data, _) = try await URLSession.shared.data(for: request)
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
            let token = object["access_token"] as? String
        else {
            throw BenchmarkError(
                "the emulator's OAuth answer has no access_token: \(String(decoding: data, as: UTF8.self))"
            )
        }
        return token
    }
}
