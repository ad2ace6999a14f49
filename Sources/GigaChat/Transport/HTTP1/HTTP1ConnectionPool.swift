import DequeModule
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

/// The direct transport's connections: per origin, at most `maxConnections` open (or opening); a request takes an
/// idle one, else opens one, else waits for one, in order.
///
/// Why it exists (issue 17): AsyncHTTPClient costs more CPU per call than the rest of a job, and more per read than
/// the parsing of what was read. This pool and ``HTTP1Connection`` do only what GigaChat's calls need: plain HTTP/1.1
/// with keep-alive, TLS, a connect timeout, an idle timeout, a deadline and cancellation. Configurations with a
/// proxy go through AsyncHTTPClient (``GigaChatClient`` decides).
final class HTTP1ConnectionPool: Sendable {
    private struct Origin {
        /// Idle connections, the most recently used last (taken first: its peer is the least likely to have
        /// closed it).
        var idle: [HTTP1Connection] = []
        /// Connections open or opening.
        var open = 0
        /// Exchanges waiting for a connection, oldest first.
        var waiting = Deque<HTTP1Exchange>()
    }

    private struct State {
        var origins: [HTTP1Origin: Origin] = [:]
        /// Every open connection, to close them at shutdown.
        var connections: [ObjectIdentifier: HTTP1Connection] = [:]
        /// Connections open or opening on each of ``loops``, to open the next one on the least busy loop.
        var connectionsPerLoop: [Int]
        var shutDown = false
    }

    private let group: any EventLoopGroup
    /// The group's event loops. A new connection goes to the one with the fewest: `next()` would hand them out in
    /// turn, but other callers take turns from the same group, and with two loops and one other call per job every
    /// connection landed on the same loop (issue 17: 959 of 1,000 streams on one core, the other nearly idle).
    private let loops: [any EventLoop]
    private let sslContext: NIOSSLContext?
    private let connectTimeout: TimeAmount
    private let maxConnections: Int
    /// How long a connection may sit idle in the pool before it is closed.
    private let idleLifetime: TimeAmount
    private let state: Mutex<State>
    private let sweeper: Mutex<RepeatedTask?> = Mutex(nil)

    /// - Parameters:
    ///   - tls: The TLS settings of `https` origins (`nil`: the pool serves `http` only).
    ///   - maxConnections: The most connections per origin.
    init(
        group: any EventLoopGroup,
        tls: TLSConfiguration?,
        connectTimeout: TimeAmount,
        maxConnections: Int,
        idleLifetime: TimeAmount = .seconds(60)
    ) throws {
        self.group = group
        self.loops = Array(group.makeIterator())
        self.state = Mutex(State(connectionsPerLoop: Array(repeating: 0, count: self.loops.count)))
        self.sslContext = try tls.map { try NIOSSLContext(configuration: $0) }
        self.connectTimeout = connectTimeout
        self.maxConnections = max(1, maxConnections)
        self.idleLifetime = idleLifetime
        let half = TimeAmount.nanoseconds(idleLifetime.nanoseconds / 2)
        let sweep = group.any().scheduleRepeatedTask(initialDelay: half, delay: half) {
            [weak self] _ in self?.closeLongIdle()
        }
        self.sweeper.withLock { $0 = sweep }
    }

    /// An event loop of the pool's group (where receivers complete their answers).
    var anyEventLoop: any EventLoop { self.group.any() }

    deinit {
        self.sweeper.withLock { $0?.cancel() }
    }

    /// How many connections are open or opening on each of the group's loops, in the group's order (for tests).
    var connectionsPerLoop: [Int] { self.state.withLock { $0.connectionsPerLoop } }

    /// Sends `request` to `origin`; the answer goes to `receiver`. Returns the exchange, to cancel it.
    @discardableResult
    func execute(
        _ request: HTTP1Request,
        to origin: HTTP1Origin,
        receiver: any HTTP1ResponseReceiver,
        idleTimeout: TimeAmount?,
        deadline: NIODeadline
    ) -> HTTP1Exchange {
        let exchange = HTTP1Exchange(
            request: request,
            origin: origin,
            receiver: receiver,
            idleTimeout: idleTimeout,
            deadline: deadline
        )
        self.route(exchange)
        return exchange
    }

    /// Ends `exchange` as cancelled, wherever it is.
    func cancel(_ exchange: HTTP1Exchange) {
        exchange.markCancelled()
        enum Next {
            case failNow
            case cancelOn(HTTP1Connection)
            case nothing
        }
        let next: Next = self.state.withLock { state in
            switch exchange.phase {
            case .waiting:
                state.origins[exchange.origin]?.waiting.removeAll { $0 === exchange }
                exchange.phase = .ended
                return .failNow
            case .connecting:
                // The connection, once open, serves the next exchange (see `connected`).
                exchange.phase = .ended
                return .failNow
            case .running(let connection):
                return .cancelOn(connection)
            case .ended:
                return .nothing
            }
        }
        switch next {
        case .failNow:
            exchange.waitTimer?.cancel()
            exchange.receiver.fail(.callCancelled)
        case .cancelOn(let connection):
            connection.eventLoop.execute { connection.cancel(exchange) }
        case .nothing:
            break
        }
    }

    /// Closes every connection; exchanges waiting or running fail. Calls made afterwards fail.
    func shutdown() async {
        self.sweeper.withLock { $0?.cancel() }
        let (connections, waiting) = self.state.withLock { state in
            state.shutDown = true
            let waiting = state.origins.values.flatMap(\.waiting)
            for key in state.origins.keys { state.origins[key]?.waiting.removeAll() }
            for exchange in waiting { exchange.phase = .ended }
            return (Array(state.connections.values), waiting)
        }
        for exchange in waiting {
            exchange.waitTimer?.cancel()
            exchange.receiver.fail(.clientShutDown)
        }
        var closed: [EventLoopFuture<Void>] = []
        for connection in connections {
            let promise = connection.eventLoop.makePromise(of: Void.self)
            connection.eventLoop.execute {
                connection.close(failing: .clientShutDown, promise: promise)
            }
            closed.append(promise.futureResult)
        }
        for future in closed { try? await future.get() }
    }

    // MARK: - Called by connections (on their event loops)

    /// The exchange that ran on `connection` ended; a reusable connection serves the next waiting exchange, or
    /// waits in the pool.
    func exchangeEnded(_ exchange: HTTP1Exchange, on connection: HTTP1Connection, reusable: Bool) {
        let next: HTTP1Exchange? = self.state.withLock { state in
            exchange.phase = .ended
            guard reusable, !state.shutDown else { return nil }
            if let next = state.origins[connection.origin]?.waiting.popFirst() {
                next.phase = .running(connection)
                return next
            }
            connection.parkedSince = .now()
            state.origins[connection.origin]?.idle.append(connection)
            return nil
        }
        if let next {
            next.waitTimer?.cancel()
            connection.start(next)
        }
    }

    /// `connection` closed: it leaves the pool, and an exchange waiting for its origin may open another.
    func connectionClosed(_ connection: HTTP1Connection) {
        let next: HTTP1Exchange? = self.state.withLock { state in
            guard state.connections.removeValue(forKey: ObjectIdentifier(connection)) != nil else { return nil }
            if let index = self.loops.firstIndex(where: { $0 === connection.eventLoop }) {
                state.connectionsPerLoop[index] -= 1
            }
            state.origins[connection.origin]?.idle.removeAll { $0 === connection }
            state.origins[connection.origin]?.open -= 1
            guard !state.shutDown, let next = state.origins[connection.origin]?.waiting.popFirst() else { return nil }
            state.origins[connection.origin]?.open += 1
            next.phase = .connecting
            return next
        }
        if let next {
            next.waitTimer?.cancel()
            self.connect(for: next)
        }
    }

    /// `exchange` was given a connection that had closed in the meantime (it leaves the pool in
    /// ``connectionClosed(_:)``): the exchange is routed again.
    func reroute(_ exchange: HTTP1Exchange, from connection: HTTP1Connection) {
        let route: Route = self.state.withLock { state in
            // Cancelled, or expired, in the meantime: whoever changed the phase told the receiver.
            guard case .running(let given) = exchange.phase, given === connection else { return .wait }
            return self.decide(exchange, &state)
        }
        self.take(route, for: exchange)
    }

    // MARK: - Routing

    private enum Route {
        case run(HTTP1Connection)
        case connect
        case wait
        case refuse
    }

    private func route(_ exchange: HTTP1Exchange) {
        let route = self.state.withLock { state in self.decide(exchange, &state) }
        self.take(route, for: exchange)
    }

    /// Where `exchange` goes now (under the lock): an idle connection, a new one, the queue, or nowhere.
    private func decide(_ exchange: HTTP1Exchange, _ state: inout State) -> Route {
        if state.shutDown || exchange.isCancelled {
            exchange.phase = .ended
            return .refuse
        }
        var origin = state.origins.removeValue(forKey: exchange.origin) ?? Origin()
        defer { state.origins[exchange.origin] = origin }
        if let connection = origin.idle.popLast() {
            exchange.phase = .running(connection)
            return .run(connection)
        }
        if origin.open < self.maxConnections {
            origin.open += 1
            exchange.phase = .connecting
            return .connect
        }
        exchange.phase = .waiting
        origin.waiting.append(exchange)
        if exchange.deadline != .distantFuture {
            exchange.waitTimer = self.group.any().scheduleTask(deadline: exchange.deadline) { [weak self] in
                self?.expire(exchange)
            }
        }
        return .wait
    }

    /// Carries out `route` (outside the lock).
    private func take(_ route: Route, for exchange: HTTP1Exchange) {
        switch route {
        case .run(let connection):
            if connection.eventLoop.inEventLoop {
                connection.start(exchange)
            } else {
                connection.eventLoop.execute { connection.start(exchange) }
            }
        case .connect:
            self.connect(for: exchange)
        case .wait:
            break
        case .refuse:
            exchange.receiver.fail(exchange.isCancelled ? .callCancelled : .clientShutDown)
        }
    }

    /// The deadline of an exchange that is still waiting for a connection passed.
    private func expire(_ exchange: HTTP1Exchange) {
        let expired = self.state.withLock { state -> Bool in
            guard case .waiting = exchange.phase else { return false }
            state.origins[exchange.origin]?.waiting.removeAll { $0 === exchange }
            exchange.phase = .ended
            return true
        }
        if expired {
            exchange.receiver.fail(.deadlinePassed)
        }
    }

    /// Opens a connection for `exchange` (counted in its origin's `open` already).
    private func connect(for exchange: HTTP1Exchange) {
        let origin = exchange.origin
        let loopIndex = self.state.withLock { state in
            let index = state.connectionsPerLoop.indices.min {
                state.connectionsPerLoop[$0] < state.connectionsPerLoop[$1]
            }!
            state.connectionsPerLoop[index] += 1
            return index
        }
        let loop = self.loops[loopIndex]
        let connectTimeout = self.connectTimeout
        let sslContext = self.sslContext
        // A handler per socket: NIO may try several addresses of the host at once, each with a channel of its own.
        ClientBootstrap(group: loop)
            .connectTimeout(self.connectTimeout)
            // At the TCP level: `.socketOption(.tcp_nodelay)` is SOL_SOCKET option 1, SO_DEBUG, which a container refuses
            // (it needs CAP_NET_ADMIN), so every connection would fail there, and Nagle would stay on.
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    if origin.tls {
                        guard let sslContext else {
                            throw GigaChatError(code: .configuration, message: "no TLS settings for an https URL")
                        }
                        let hostname = Self.isIPAddress(origin.host) ? nil : origin.host
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: hostname))
                    }
                    // Requests go out as bytes the connection makes (no request encoder); responses are parsed by
                    // NIO's decoder, which the connection tells of each request.
                    let decoder = HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)
                    try pipeline.addHandler(ByteToMessageHandler(HTTP1ResponseDecoding(decoder: decoder)))
                    try pipeline.addHandler(
                        HTTP1Connection(
                            origin: origin,
                            eventLoop: loop,
                            connectTimeout: connectTimeout,
                            pool: self,
                            responseDecoder: decoder
                        )
                    )
                }
            }
            .connect(host: origin.host, port: origin.port)
            .whenComplete { result in
                switch result {
                case .success(let channel):
                    do {
                        let connection = try channel.pipeline.syncOperations.handler(type: HTTP1Connection.self)
                        self.connected(connection, loopIndex: loopIndex, for: exchange)
                    } catch {
                        channel.close(promise: nil)
                        self.connectFailed(
                            origin,
                            loopIndex: loopIndex,
                            for: exchange,
                            error: GigaChatError.wrapping(error)
                        )
                    }
                case .failure(let error):
                    self.connectFailed(origin, loopIndex: loopIndex, for: exchange, error: Self.connectError(error))
                }
            }
    }

    private func connected(_ connection: HTTP1Connection, loopIndex: Int, for exchange: HTTP1Exchange) {
        enum Next {
            case start(HTTP1Exchange)
            case park
            case refuse(failExchange: Bool)
        }
        let next: Next = self.state.withLock { state in
            if state.shutDown {
                // Never registered, so its close will not be counted: it is uncounted here.
                state.origins[connection.origin]?.open -= 1
                state.connectionsPerLoop[loopIndex] -= 1
                guard case .connecting = exchange.phase else { return .refuse(failExchange: false) }
                exchange.phase = .ended
                return .refuse(failExchange: true)
            }
            state.connections[ObjectIdentifier(connection)] = connection
            if case .connecting = exchange.phase {
                exchange.phase = .running(connection)
                return .start(exchange)
            }
            // The exchange was cancelled while the connection opened: it serves the next one, or waits.
            if let next = state.origins[connection.origin]?.waiting.popFirst() {
                next.phase = .running(connection)
                return .start(next)
            }
            connection.parkedSince = .now()
            state.origins[connection.origin]?.idle.append(connection)
            return .park
        }
        switch next {
        case .start(let exchange):
            exchange.waitTimer?.cancel()
            connection.start(exchange)
        case .park:
            break
        case .refuse(let failExchange):
            connection.close(failing: .clientShutDown, promise: nil)
            if failExchange { exchange.receiver.fail(.clientShutDown) }
        }
    }

    private func connectFailed(
        _ origin: HTTP1Origin,
        loopIndex: Int,
        for exchange: HTTP1Exchange,
        error: GigaChatError
    ) {
        let (failExchange, next): (Bool, HTTP1Exchange?) = self.state.withLock { state in
            state.origins[origin]?.open -= 1
            state.connectionsPerLoop[loopIndex] -= 1
            var failExchange = false
            if case .connecting = exchange.phase {
                exchange.phase = .ended
                failExchange = true
            }
            // The next waiting exchange tries a connection of its own (it may be refused the same way, and fail).
            guard !state.shutDown, let next = state.origins[origin]?.waiting.popFirst() else {
                return (failExchange, nil)
            }
            state.origins[origin]?.open += 1
            next.phase = .connecting
            return (failExchange, next)
        }
        if failExchange { exchange.receiver.fail(error) }
        if let next {
            next.waitTimer?.cancel()
            self.connect(for: next)
        }
    }

    /// Closes the connections idle for longer than ``idleLifetime``.
    private func closeLongIdle() {
        let limit = NIODeadline.now() - self.idleLifetime
        let stale: [HTTP1Connection] = self.state.withLock { state in
            var stale: [HTTP1Connection] = []
            for key in state.origins.keys {
                state.origins[key]?.idle.removeAll { connection in
                    guard connection.parkedSince < limit else { return false }
                    stale.append(connection)
                    return true
                }
            }
            return stale
        }
        for connection in stale {
            connection.eventLoop.execute { connection.close(failing: .clientShutDown, promise: nil) }
        }
    }

    private static func connectError(_ error: any Error) -> GigaChatError {
        if case ChannelError.connectTimeout = error { return .connectTimeout(error) }
        return GigaChatError.wrapping(error)
    }

    private static func isIPAddress(_ host: String) -> Bool {
        (try? SocketAddress(ipAddress: host, port: 0)) != nil
    }
}
