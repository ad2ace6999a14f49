import Foundation
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization
import TestSupport
import Testing

@testable import GigaChat

#if canImport(Glibc)
    import Glibc
#endif

/// The direct transport (``HTTP1ConnectionPool``, ``HTTP1Connection``) against a keep-alive test server: reuse,
/// the connection limit, connections the server closes, deadlines, cancellation and shutdown. What it shares with
/// AsyncHTTPClient (statuses, timeouts, TLS, retries) is tested through ``GigaChatClient`` in the other suites.
@Suite("HTTP/1.1 transport", .timeLimit(.minutes(1)))
struct HTTP1TransportTests {
    static func makePool(maxConnections: Int = 4) throws -> HTTP1ConnectionPool {
        try HTTP1ConnectionPool(
            group: MultiThreadedEventLoopGroup.singleton,
            tls: nil,
            connectTimeout: .seconds(5),
            maxConnections: maxConnections
        )
    }

    static func get(
        _ pool: HTTP1ConnectionPool,
        _ server: TestKeepAliveServer,
        path: String = "/",
        deadline: NIODeadline = .distantFuture
    ) async throws -> CollectedResponse {
        try await Self.send(
            HTTP1Request(method: .GET, target: path, headers: ["Accept": "application/json"], body: nil),
            pool,
            server,
            deadline: deadline
        )
    }

    /// `request` to `server` through `pool` (idle timeout 10 s, answers up to 1 MiB).
    static func send(
        _ request: HTTP1Request,
        _ pool: HTTP1ConnectionPool,
        _ server: TestKeepAliveServer,
        deadline: NIODeadline = .distantFuture
    ) async throws -> CollectedResponse {
        try await GigaChatClient.exchange(
            request,
            origin: server.origin,
            pool: pool,
            idleTimeout: .seconds(10),
            deadline: deadline,
            limit: 1 << 20
        )
    }

    static func text(_ response: CollectedResponse) -> String {
        String(buffer: response.body)
    }

    /// A connection on an `EmbeddedChannel` (active, no decoder: answers are written as parts, the request is read
    /// as the bytes the connection wrote), with a pool of its own, and an exchange for it whose answer a collector reads.
    static func embeddedConnection(
        deadline: NIODeadline = .distantFuture
    ) throws -> (EmbeddedEventLoop, EmbeddedChannel, HTTP1Connection, HTTP1Exchange, HTTP1BodyCollector) {
        let loop = EmbeddedEventLoop()
        let pool = try HTTP1ConnectionPool(group: loop, tls: nil, connectTimeout: .seconds(1), maxConnections: 1)
        let origin = HTTP1Origin(tls: false, host: "127.0.0.1", port: 80)
        let connection = HTTP1Connection(
            origin: origin,
            eventLoop: loop,
            connectTimeout: .seconds(1),
            pool: pool,
            responseDecoder: HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)
        )
        let channel = EmbeddedChannel(handler: connection, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 80)).wait()
        let collector = HTTP1BodyCollector(limit: 1024, eventLoop: loop)
        let exchange = HTTP1Exchange(
            request: HTTP1Request(method: .GET, target: "/", headers: [:], body: nil),
            origin: origin,
            receiver: collector,
            idleTimeout: nil,
            deadline: deadline
        )
        return (loop, channel, connection, exchange, collector)
    }

    /// What `collector` answered so far (`nil`: nothing yet).
    static func result(of collector: HTTP1BodyCollector, on loop: EmbeddedEventLoop) -> Result<
        CollectedResponse, any Error
    >? {
        nonisolated(unsafe) var result: Result<CollectedResponse, any Error>?
        collector.answered.whenComplete { result = $0 }
        loop.run()
        return result
    }

    /// The request's head as the connection writes it: the caller's headers as given, `Host` unless the caller sent
    /// one (in any case), and the body's framing the transport's own — a length for a body, `Content-Length: 0` for a
    /// method that defines one, nothing for GET, HEAD and DELETE without one.
    @Test(
        arguments: [
            (HTTPMethod.GET, nil, ["A": "b"], "GET /p HTTP/1.1\r\nA: b\r\nHost: h:1\r\n\r\n"),
            (.DELETE, nil, [:], "DELETE /p HTTP/1.1\r\nHost: h:1\r\n\r\n"),
            (.PUT, nil, [:], "PUT /p HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"),
            (.PATCH, nil, [:], "PATCH /p HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"),
            (
                .POST, "xyz", ["host": "other", "content-length": "9", "TRANSFER-ENCODING": "chunked"],
                "POST /p HTTP/1.1\r\nhost: other\r\nContent-Length: 3\r\n\r\n"
            ),
            (.RAW(value: "PROPFIND"), nil, [:], "PROPFIND /p HTTP/1.1\r\nHost: h:1\r\nContent-Length: 0\r\n\r\n"),
        ] as [(HTTPMethod, String?, [String: String], String)]
    )
    func theRequestHeadIsWrittenAsHTTP11Wants(
        method: HTTPMethod,
        body: String?,
        headers: [String: String],
        head: String
    ) {
        let request = HTTP1Request(
            method: method,
            target: "/p",
            headers: HTTPHeaders(headers.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }),
            body: body.map { ByteBuffer(string: $0) }
        )
        let bytes = HTTP1Connection.head(of: request, host: "h:1", allocator: ByteBufferAllocator())
        #expect(String(buffer: bytes) == head)
    }

    /// After `101 Switching Protocols` NIO's decoder reads nothing more: the connection is not used again.
    @Test func aConnectionThatSwitchedProtocolsIsNotReused() throws {
        let (loop, channel, connection, exchange, collector) = try Self.embeddedConnection()
        connection.start(exchange)
        try channel.writeInbound(
            HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .switchingProtocols))
        )
        try channel.writeInbound(HTTPClientResponsePart.end(nil))
        _ = Self.result(of: collector, on: loop)
        #expect(!channel.isActive)
    }

    /// The pool's sockets have Nagle off at the TCP level and no SOL_SOCKET option 1 (SO_DEBUG): asking for
    /// TCP_NODELAY at the socket level sets SO_DEBUG, which a container refuses (it needs CAP_NET_ADMIN), so every
    /// call would fail there while every test on the host passed (the emulator had the same defect once).
    @Test func theClientSocketHasNagleOffAndNoPrivilegedOption() async throws {
        let server = try TestKeepAliveServer { _, _ in .ok("{}") }
        defer { server.stop() }
        let pool = try Self.makePool()
        _ = try await Self.get(pool, server)
        // The pool's idle connection: this process's socket whose peer is the server (its port is this test's own).
        let serverPort = UInt16(server.origin.port)
        let socket = try #require(SocketInspection.descriptor(peerPort: serverPort) { $0 != serverPort })
        #expect(SocketInspection.option(socket, level: Int32(IPPROTO_TCP), name: TCP_NODELAY) == 1)
        #expect(SocketInspection.option(socket, level: SOL_SOCKET, name: SO_DEBUG) == 0)
        await pool.shutdown()
    }

    @Test func callsOneAfterAnotherShareOneConnection() async throws {
        let server = try TestKeepAliveServer { _, index in .ok("answer \(index)") }
        defer { server.stop() }
        let pool = try Self.makePool()
        for index in 0..<5 {
            let response = try await Self.get(pool, server)
            #expect(response.head.status == .ok)
            #expect(Self.text(response) == "answer \(index)")
        }
        #expect(server.connections == 1)
        await pool.shutdown()
    }

    @Test func theRequestCarriesHostAndLength() async throws {
        let heads = Mutex<[String]>([])
        let server = try TestKeepAliveServer { head, _ in
            heads.withLock { $0.append(head) }
            return .ok("{}")
        }
        defer { server.stop() }
        let pool = try Self.makePool()
        _ = try await Self.send(
            HTTP1Request(
                method: .POST,
                target: "/api/v1/x?y=1",
                headers: ["X-A": "b"],
                body: ByteBuffer(string: "12345")
            ),
            pool,
            server
        )
        // The caller's Host stands; the body's framing is the transport's.
        _ = try await Self.send(
            HTTP1Request(
                method: .POST,
                target: "/",
                headers: ["Host": "api.example", "Content-Length": "99", "Transfer-Encoding": "chunked"],
                body: ByteBuffer(string: "123")
            ),
            pool,
            server
        )
        let recorded = heads.withLock { $0 }
        try #require(recorded.count == 2)
        let lines = recorded[0].split(separator: "\r\n").map(String.init)
        #expect(lines.first == "POST /api/v1/x?y=1 HTTP/1.1")
        #expect(lines.contains("Host: 127.0.0.1:\(server.origin.port)"))
        #expect(lines.contains("Content-Length: 5"))
        #expect(lines.contains("X-A: b"))
        let second = recorded[1].split(separator: "\r\n").map { $0.lowercased() }
        #expect(second.filter { $0.hasPrefix("host:") } == ["host: api.example"])
        #expect(second.filter { $0.hasPrefix("content-length:") } == ["content-length: 3"])
        #expect(!second.contains { $0.hasPrefix("transfer-encoding:") })
        await pool.shutdown()
    }

    /// A small body goes out in the same write as the head; a large one (an upload) after it. Either way the server
    /// reads exactly the body, and the connection serves the next request.
    @Test func smallAndLargeBodiesAreFramedByTheirLength() async throws {
        let server = try TestKeepAliveServer { _, index in .ok("\(index)") }
        defer { server.stop() }
        let pool = try Self.makePool(maxConnections: 1)
        let large = (0..<(HTTP1Connection.inlineBodyLimit * 2 + 7)).map { UInt8(truncatingIfNeeded: $0 % 251) }
        for body in [large, Array("tail".utf8), []] {
            let response = try await Self.send(
                HTTP1Request(method: .POST, target: "/upload", headers: [:], body: ByteBuffer(bytes: body)),
                pool,
                server
            )
            #expect(response.head.status == .ok)
        }
        #expect(server.bodies == [large, Array("tail".utf8), []])
        #expect(server.connections == 1)
        await pool.shutdown()
    }

    @Test func connectionsStayWithinTheLimitAndEveryCallIsServed() async throws {
        let server = try TestKeepAliveServer { _, index in
            .ok("\(index)", after: .milliseconds(50))
        }
        defer { server.stop() }
        let pool = try Self.makePool(maxConnections: 2)
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<8 { group.addTask { Self.text(try await Self.get(pool, server)) } }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(answers == Set((0..<8).map(String.init)))
        #expect(server.connections == 2)
        #expect(server.maxInFlight == 2)
        await pool.shutdown()
    }

    @Test func connectionsAreSpreadOverTheEventLoopsWhoeverElseTakesTurns() async throws {
        // Other code takes loops from the same group in turn: with two loops and one such call per call, `next()`
        // put every connection on one loop (issue 17).
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let server = try TestKeepAliveServer { _, index in
            .ok("\(index)", after: .milliseconds(300))
        }
        defer { server.stop() }
        let pool = try HTTP1ConnectionPool(group: group, tls: nil, connectTimeout: .seconds(5), maxConnections: 8)
        var collectors: [HTTP1BodyCollector] = []
        for _ in 0..<8 {
            let collector = HTTP1BodyCollector(limit: 1024, eventLoop: group.next())
            pool.execute(
                HTTP1Request(method: .GET, target: "/", headers: [:], body: nil),
                to: server.origin,
                receiver: collector,
                idleTimeout: .seconds(10),
                deadline: .distantFuture
            )
            collectors.append(collector)
        }
        for collector in collectors { _ = try await collector.answered.get() }
        #expect(server.connections == 8)
        #expect(pool.connectionsPerLoop == [4, 4])
        await pool.shutdown()
        // Each close is counted off its loop (as the connections' closes come in).
        let deadline = ContinuousClock.now + .seconds(5)
        while pool.connectionsPerLoop != [0, 0], ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(pool.connectionsPerLoop == [0, 0])
        try await group.shutdownGracefully()
    }

    @Test func aConnectionTheServerClosedIsNotUsedAgain() async throws {
        // The server closes after each answer without saying so (no `Connection: close`).
        let server = try TestKeepAliveServer { _, index in
            var answer = TestKeepAliveServer.Answer.ok("\(index)")
            answer.closeAfter = true
            return answer
        }
        defer { server.stop() }
        let pool = try Self.makePool()
        #expect(Self.text(try await Self.get(pool, server)) == "0")
        try await Task.sleep(for: .milliseconds(100))  // the close is seen
        #expect(Self.text(try await Self.get(pool, server)) == "1")
        #expect(server.connections == 2)
        await pool.shutdown()
    }

    @Test func connectionCloseIsHonoured() async throws {
        let server = try TestKeepAliveServer { _, index in .ok("\(index)", headers: "Connection: close\r\n") }
        defer { server.stop() }
        let pool = try Self.makePool()
        #expect(Self.text(try await Self.get(pool, server)) == "0")
        #expect(Self.text(try await Self.get(pool, server)) == "1")
        #expect(server.connections == 2)
        await pool.shutdown()
    }

    @Test func aDeadlineEndsTheWaitForAConnection() async throws {
        let server = try TestKeepAliveServer { _, index in
            .ok("\(index)", after: index == 0 ? .seconds(6) : .zero)
        }
        defer { server.stop() }
        let pool = try Self.makePool(maxConnections: 1)
        async let first = Self.get(pool, server)
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        let error = await #expect(throws: GigaChatError.self) {
            try await Self.get(pool, server, deadline: .now() + .milliseconds(200))
        }
        #expect(error?.code == .timeout)
        #expect(error?.isRetriable == false)
        #expect(ContinuousClock.now - started < .seconds(4))  // not the 6 s of the first answer; margin for load
        #expect(Self.text(try await first) == "0")
        // The connection went back to the pool: the next call has it.
        #expect(Self.text(try await Self.get(pool, server)) == "1")
        #expect(server.connections == 1)
        await pool.shutdown()
    }

    @Test func cancellingACallEndsItWhereverItIs() async throws {
        // The first answer takes long enough that a busy machine still cancels the call before it comes.
        let server = try TestKeepAliveServer { _, index in .ok("\(index)", after: index == 0 ? .seconds(5) : .zero) }
        defer { server.stop() }
        let pool = try Self.makePool(maxConnections: 1)
        // One call runs on the only connection, one waits for it; both are cancelled, and the waiting one is never
        // sent (the next call is the server's second).
        let running = Task { try await Self.get(pool, server) }
        try await Task.sleep(for: .milliseconds(100))
        let waiting = Task { try await Self.get(pool, server) }
        try await Task.sleep(for: .milliseconds(100))
        let started = ContinuousClock.now
        waiting.cancel()
        running.cancel()
        for task in [waiting, running] {
            let error = await #expect(throws: GigaChatError.self) { try await task.value }
            #expect(error?.code == .cancelled)
        }
        #expect(ContinuousClock.now - started < .seconds(4))  // not the 5 s of the answer; margin for load
        // The cancelled call's connection was closed (its answer would still come); a new one serves the next call.
        #expect(Self.text(try await Self.get(pool, server)) == "1")
        #expect(server.connections == 2)
        await pool.shutdown()
    }

    @Test func shutdownEndsCallsAndRefusesNewOnes() async throws {
        let server = try TestKeepAliveServer { _, index in
            .ok("\(index)", after: .seconds(2))
        }
        defer { server.stop() }
        let pool = try Self.makePool(maxConnections: 1)
        let running = Task { try await Self.get(pool, server) }
        let waiting = Task { try await Self.get(pool, server) }
        try await Task.sleep(for: .milliseconds(200))
        await pool.shutdown()
        for task in [running, waiting] {
            let error = await #expect(throws: GigaChatError.self) { try await task.value }
            #expect(error?.message == "the client has been shut down")
        }
        let error = await #expect(throws: GigaChatError.self) { try await Self.get(pool, server) }
        #expect(error?.code == .configuration)
    }

    @Test func aRefusedConnectionIsATransportError() async throws {
        let server = try TestKeepAliveServer { _, _ in .ok("") }
        let origin = server.origin
        server.stop()
        let pool = try Self.makePool()
        let error = await #expect(throws: GigaChatError.self) {
            try await GigaChatClient.exchange(
                HTTP1Request(method: .GET, target: "/", headers: [:], body: nil),
                origin: origin,
                pool: pool,
                idleTimeout: .seconds(1),
                deadline: .distantFuture,
                limit: 1024
            )
        }
        #expect(error?.code == .transport)
        #expect(error?.isRetriable == true)
        await pool.shutdown()
    }

    @Test func headersThatWouldBreakTheFramingAreRefused() throws {
        #expect(throws: Never.self) { try GigaChatClient.checkHeaders(["X-A_b.c~1": "b c\t d", "Accept": "*/*"]) }
        for value in ["a\r\nX-Injected: 1", "a\nb", "a\u{0}b", "a\u{7F}b", "a\u{1B}b"] {
            #expect(throws: GigaChatError.self) { try GigaChatClient.checkHeaders(["X-A": value]) }
        }
        for name in ["X-A\r\nX-Injected", "X A", "X:A", ""] {
            #expect(throws: GigaChatError.self) { try GigaChatClient.checkHeaders([name: "b"]) }
        }
    }

    /// A peer that closes a TLS connection without close_notify (as load balancers do) lost the connection: a
    /// retriable transport error, as with AsyncHTTPClient, not a TLS failure (which is not retried).
    @Test func aTLSPeerThatClosesWithoutNotifyLostTheConnection() throws {
        let (_, channel, connection, exchange, collector) = try Self.embeddedConnection()
        connection.start(exchange)
        try channel.writeInbound(
            HTTPClientResponsePart.head(
                HTTPResponseHead(version: .http1_1, status: .ok, headers: ["Content-Length": "10"])
            )
        )
        channel.pipeline.fireErrorCaught(NIOSSLError.uncleanShutdown)
        _ = try? channel.close().wait()
        let error = #expect(throws: GigaChatError.self) { try collector.answered.wait() }
        #expect(error?.code == .transport)
        #expect(error?.isRetriable == true)
    }

    /// A cancellation can overtake its exchange on the way to a pooled connection (the pool gave the exchange the
    /// connection, and the cancellation reaches the connection's event loop first): the exchange must still end as
    /// cancelled, and send nothing.
    @Test func aCancellationThatOvertakesItsExchangeStillEndsIt() throws {
        let (loop, channel, connection, exchange, collector) = try Self.embeddedConnection()
        let pool = try #require(Mirror(reflecting: connection).descendant("pool") as? HTTP1ConnectionPool)
        exchange.phase = .running(connection)  // what the pool does under its lock before it hands the exchange over
        pool.cancel(exchange)
        loop.run()  // the cancellation's hop runs first
        connection.start(exchange)
        let error = #expect(throws: GigaChatError.self) { try Self.result(of: collector, on: loop)?.get() }
        #expect(error?.code == .cancelled)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        _ = try? channel.finish()
    }

    /// An exchange whose deadline passed on its way to the connection is not sent; the connection stays usable.
    @Test func anExchangePastItsDeadlineIsNotSent() throws {
        let (loop, channel, connection, exchange, collector) = try Self.embeddedConnection(
            deadline: .now() - .seconds(1)
        )
        connection.start(exchange)
        let error = #expect(throws: GigaChatError.self) { try Self.result(of: collector, on: loop)?.get() }
        #expect(error?.code == .timeout)
        #expect(error?.isRetriable == false)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        #expect(channel.isActive)
        _ = try? channel.finish()
    }

    /// An answer on a connection with no exchange (a server's 408 to an idle connection) puts it out of step with
    /// its requests: it is closed, not used again.
    @Test func anAnswerNobodyAskedForClosesTheConnection() throws {
        let (_, channel, _, _, collector) = try Self.embeddedConnection()
        try channel.writeInbound(
            HTTPClientResponsePart.head(HTTPResponseHead(version: .http1_1, status: .requestTimeout))
        )
        #expect(!channel.isActive)
        collector.fail(.callCancelled)  // its exchange never ran
    }

    @Test(arguments: [
        ("https://gigachat.devices.sberbank.ru/api/v1", true, "gigachat.devices.sberbank.ru", 443, "/api/v1"),
        ("http://127.0.0.1:8080/api/v1/chat?x=1", false, "127.0.0.1", 8080, "/api/v1/chat?x=1"),
        ("HTTPS://host:9443", true, "host", 9443, "/"),
        ("http://[::1]:81/p", false, "::1", 81, "/p"),
        ("http://host?q", false, "host", 80, "/?q"),
    ])
    func urlsSplitIntoOriginAndTarget(url: String, tls: Bool, host: String, port: Int, target: String) throws {
        let (origin, split) = try #require(HTTP1Origin.split(url))
        #expect(origin == HTTP1Origin(tls: tls, host: host, port: port))
        #expect(split == target)
    }

    @Test(arguments: [
        "ftp://host/", "http://user:pw@host/", "http://host:99999/", "http://:80/", "http://host/#x", "host/api",
    ])
    func urlsTheTransportDoesNotServeAreLeftToAsyncHTTPClient(url: String) {
        #expect(HTTP1Origin.split(url) == nil)
    }

    @Test func theHostHeaderOmitsTheDefaultPort() {
        #expect(HTTP1Origin(tls: true, host: "a.ru", port: 443).hostHeader == "a.ru")
        #expect(HTTP1Origin(tls: false, host: "a.ru", port: 443).hostHeader == "a.ru:443")
        #expect(HTTP1Origin(tls: false, host: "::1", port: 8080).hostHeader == "[::1]:8080")
    }
}
