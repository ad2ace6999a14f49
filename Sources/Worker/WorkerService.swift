import Foundation
import GigaChat
import Kafka
import Logging
import ServiceLifecycle
import Synchronization
import WireFormat

/// The worker: consumes jobs, runs them through GigaChat with bounded concurrency, publishes partials and
/// completions, and commits each input offset only once its output was acknowledged (DESIGN.md "Delivery
/// guarantees"). A ServiceLifecycle `Service`: graceful shutdown stops intake, drains running jobs up to
/// `shutdown.drain_timeout`, flushes the producer, commits and leaves the group.
///
/// A record flows consumer -> ``JobDecoder`` -> ``Dispatcher`` -> `JobRunner` -> `OutcomePublisher` -> delivery
/// report -> ``OffsetTracker`` -> stored offset -> commit (librdkafka commits stored offsets every
/// `kafka.commit_interval`, on revocation and on close).
public final class WorkerService: Service, Sendable {
    /// Why the worker stops.
    private enum StopReason: Sendable {
        case requested
        case failed(any Error)
    }

    public let configuration: WorkerConfiguration
    private let logger: Logger
    private let client: GigaChatClient
    private let producer: KafkaProducer
    private let consumer: KafkaConsumer
    private let kafkaMetrics: KafkaMetricsReporter
    private let dispatcher: Dispatcher
    private let tracker: OffsetTracker
    private let inFlight: InFlightWork
    private let publisher: OutcomePublisher
    private let gate: OutputGate
    private let metrics: WorkerMetrics
    private let decoder: JobDecoder
    private let deadlines = AttemptDeadlines()
    private let flow: FlowController
    /// The fleet topic's reports (with `gigachat.account_concurrency` and `flow.budget: demand`).
    private let fleet: FleetChannel?
    private let stops: AsyncStream<StopReason>
    private let stop: AsyncStream<StopReason>.Continuation
    private let failpoints: WorkerFailpoints

    /// Creates the worker's clients (nothing is consumed until ``run()``).
    /// - Parameters:
    ///   - configuration: Validated here.
    ///   - logger: The worker's logger (never logs secrets, prompts or answers).
    ///   - tokenProvider: A token provider to share (tests); default: the process-wide one for the credentials.
    ///   - failpoints: Pauses that tests use to force races (``WorkerFailpoints``); none by default.
    /// - Throws: ``WorkerConfigurationError``, or the Kafka/GigaChat client errors.
    public init(
        configuration: WorkerConfiguration,
        logger: Logger,
        tokenProvider: GigaChatTokenProvider? = nil,
        failpoints: WorkerFailpoints = .init()
    ) throws {
        try configuration.validate()
        self.configuration = configuration
        self.failpoints = failpoints
        self.logger = logger
        self.metrics = WorkerMetrics()
        self.decoder = JobDecoder(
            maxBytes: configuration.maxJobBytes,
            maxEmbeddingsInputs: configuration.embeddingsMaxInputs
        )
        (stops, stop) = AsyncStream.makeStream(of: StopReason.self)
        let stop = self.stop

        var gigachatLogger = logger
        gigachatLogger[metadataKey: "component"] = "gigachat"
        client = try GigaChatClient(
            configuration: configuration.effectiveGigaChat,
            tokenProvider: tokenProvider,
            logger: gigachatLogger
        )

        var producerConfiguration = KafkaProducerConfiguration(bootstrapServers: configuration.kafka.bootstrapServers)
        producerConfiguration.clientID = configuration.kafka.clientID
        producerConfiguration.properties = configuration.kafka.properties.merging(
            configuration.kafka.producerProperties
        ) { $1 }
        var kafkaLogger = logger
        kafkaLogger[metadataKey: "component"] = "kafka"
        producer = try KafkaProducer(configuration: producerConfiguration, logger: kafkaLogger) { error in
            stop.yield(.failed(error))
        }
        dispatcher = Dispatcher(
            limit: configuration.concurrency,
            perKey: configuration.ordering == .perKey,
            maxBufferedJobs: configuration.maxBufferedJobs,
            maxBufferedBytes: configuration.maxBufferedBytes
        )
        inFlight = InFlightWork()

        var consumerConfiguration = KafkaConsumerConfiguration(
            bootstrapServers: configuration.kafka.bootstrapServers,
            groupID: configuration.kafka.groupID
        )
        consumerConfiguration.clientID = configuration.kafka.clientID
        consumerConfiguration.partitionAssignment = configuration.kafka.assignment
        consumerConfiguration.sessionTimeout = configuration.kafka.sessionTimeout
        consumerConfiguration.offsetCommit = .storedOffsets(interval: configuration.kafka.commitInterval)
        // The dispatcher's buffer is the real one; the consumer keeps what the intake has not taken yet. Its read-ahead
        // is four times the dispatcher's in jobs (the bytes bound, half the dispatcher's, caps its memory): a pause
        // drops librdkafka's pre-fetch, and after the resume its next fetch comes up to a second later, so half the
        // read-ahead plus the dispatcher's buffer must last that long. With 500 (250 + 1,000 jobs: 0.4 s at 3,000
        // plain jobs a second) the worker stalled at every resume: 2,130 jobs a second in `make bench`, 3,050 now.
        consumerConfiguration.messageBufferCapacity = max(100, configuration.maxBufferedJobs * 4)
        consumerConfiguration.messageBufferBytes = max(1 << 20, configuration.maxBufferedBytes / 2)
        consumerConfiguration.properties = configuration.kafka.properties.merging(
            configuration.kafka.consumerProperties
        ) { $1 }
        let consumerReference = ConsumerReference()
        let storeLogger = kafkaLogger
        let tracker = OffsetTracker(
            store: { positions in
                do {
                    try consumerReference.consumer?.storeOffsets(positions)
                } catch {
                    // Not assigned any more (revoked between the delivery report and now): nothing to store.
                    storeLogger.debug("Offset not stored", metadata: ["error": "\(error)"])
                }
            },
            commit: { positions in
                do {
                    try consumerReference.consumer?.commitAsync(positions)
                    return true
                } catch {
                    storeLogger.debug("Offset map not committed", metadata: ["error": "\(error)"])
                    return false
                }
            }
        )
        self.tracker = tracker
        let gate = OutputGate(limit: configuration.concurrency, logger: logger)
        self.gate = gate
        publisher = OutcomePublisher(
            sink: producer,
            tracker: tracker,
            completionsTopic: configuration.topics.completions,
            gate: gate,
            logger: logger
        )
        let dispatcher = self.dispatcher
        let inFlight = self.inFlight
        let rebalanceDrain = configuration.rebalanceDrainTimeout
        let metrics = self.metrics
        if configuration.accountConcurrency != nil, configuration.fleetBudget == .demand {
            let memberID = "\(configuration.workerID)-\(UUID().uuidString.prefix(8).lowercased())"
            var fleetLogger = kafkaLogger
            fleetLogger[metadataKey: "component"] = "fleet"
            fleet = try FleetChannel(
                settings: FleetChannel.Settings(
                    topic: configuration.topics.effectiveFleet,
                    memberID: memberID,
                    lease: configuration.fleetLease
                ),
                kafka: configuration.kafka,
                producer: producer,
                reports: metrics.fleetReports,
                logger: fleetLogger
            )
        } else {
            fleet = nil
        }
        let flow = FlowController(
            settings: FlowController.Settings(
                concurrency: configuration.concurrency,
                accountConcurrency: configuration.accountConcurrency,
                fleetBudget: configuration.fleetBudget,
                rotation: configuration.budgetRotation,
                adaptive: configuration.adaptive ?? (configuration.accountConcurrency != nil),
                requestsPerMinute: configuration.requestsPerMinute,
                tokensPerMinute: configuration.tokensPerMinute
            ),
            topic: configuration.topics.jobs,
            dispatcher: dispatcher,
            consumer: consumerReference,
            fleet: fleet,
            metrics: metrics,
            logger: logger
        )
        self.flow = flow
        fleet?.setOnChange { [weak flow] in flow?.refresh() }
        consumer = try KafkaConsumer(
            configuration: consumerConfiguration,
            logger: kafkaLogger,
            revocationHandler: { revocation in
                // The budget of these partitions passes to their next owner: stop counting it before draining.
                flow.partitionsLeaving(revocation.partitions)
                Self.revoke(
                    revocation,
                    dispatcher: dispatcher,
                    inFlight: inFlight,
                    tracker: tracker,
                    drainTimeout: rebalanceDrain,
                    logger: logger
                )
                flow.partitionsRevoked(revocation.partitions)
                metrics.partitionsAssigned.record(tracker.ownedPartitions.count)
            },
            assignmentHandler: { partitions in
                // Ownership starts here, before any record of these partitions is handed out, with the offsets
                // the committed maps say were finished above the committed offsets.
                Self.assign(partitions, consumer: consumerReference, tracker: tracker, logger: storeLogger)
                flow.partitionsAssigned(partitions)
            }
        )
        consumerReference.consumer = consumer
        kafkaMetrics = KafkaMetricsReporter(
            consumer: consumerReference,
            tracker: tracker,
            metrics: metrics,
            interval: .seconds(5)
        )
    }

    /// The partitions of the jobs topic this worker owns now (empty before it joined the group or after it left).
    public var assignedPartitions: [KafkaTopicPartition] {
        (try? consumer.assignment) ?? []
    }

    /// The bound on GigaChat requests in flight now (the fleet budget's share, the 429 adaptation and the circuit
    /// applied); `nil` before the first computation.
    public var concurrencyLimit: Int? { flow.currentLimit }

    /// The jobs this worker has taken from the jobs topic and not yet ended: GigaChat requests in flight, jobs held
    /// in the buffer, and jobs waiting for a slot to retry.
    public var load: (running: Int, buffered: Int, retrying: Int) { dispatcher.load }

    /// Whether the worker can do work now (for `/readyz`), and if not, why: it owns partitions of the jobs topic,
    /// every output topic exists, the GigaChat account's circuit is closed, and it holds a valid access token.
    public var readiness: (ready: Bool, reason: String) {
        let partitions = assignedPartitions.count
        guard partitions > 0 else { return (false, "no partitions of \(configuration.topics.jobs) assigned") }
        if let blocked = gate.reason { return (false, blocked) }
        let circuit = flow.circuit
        guard circuit.closed else { return (false, "GigaChat account circuit open: \(circuit.reason ?? "-")") }
        if let blocked = flow.fleetBlocked {
            return (false, "fleet budget (\(configuration.topics.effectiveFleet)): \(blocked)")
        }
        guard client.tokenProvider.hasValidToken else { return (false, "no valid GigaChat access token") }
        return (true, "ready: \(partitions) partitions assigned, concurrency limit \(flow.currentLimit ?? 0)")
    }

    /// Checks that GigaChat accepts the credentials (one token call).
    /// - Throws: ``WorkerStartError`` when the token endpoint rejects them; other failures (the endpoint is
    ///   unreachable) are only logged: the worker's retries and circuit deal with them.
    public func checkCredentials() async throws {
        do {
            try await client.authorize(timeout: .seconds(30))
        } catch let error as GigaChatError where [.unauthorized, .badRequest, .forbidden].contains(error.code) {
            throw WorkerStartError(message: "GigaChat rejected the credentials: \(error.message)")
        } catch {
            logger.warning("Could not obtain a GigaChat token at start-up; going on", metadata: ["error": "\(error)"])
        }
    }

    /// Runs until graceful shutdown (or cancellation), or until Kafka fails fatally (then it throws).
    /// - Throws: ``WorkerStartError`` when GigaChat rejects the credentials at start-up; Kafka's fatal errors.
    public func run() async throws {
        // A SIGTERM while the token endpoint is slow stops the check (and then the worker) at once.
        do {
            try await cancelWhenGracefulShutdown { try await self.checkCredentials() }
            await fleet?.start()
            try consumer.subscribe(topics: [configuration.topics.jobs])
        } catch {
            await fleet?.close()
            throw error
        }
        logger.info(
            "Worker started",
            metadata: [
                "worker_id": "\(configuration.workerID)", "group": "\(configuration.kafka.groupID)",
                "jobs_topic": "\(configuration.topics.jobs)", "concurrency": "\(configuration.concurrency)",
                "ordering": "\(configuration.ordering.rawValue)",
            ]
        )
        // Every loop is a child of this call: cancelled and awaited before run() returns.
        let reason = await withDiscardingTaskGroup { background in
            background.addTask { await self.deadlines.runSweeper() }
            background.addTask { await self.expiryLoop() }
            background.addTask { await self.flow.run() }
            if let fleet = self.fleet { background.addTask { await fleet.run() } }
            background.addTask { await self.kafkaMetrics.run() }
            background.addTask { await self.offsetMapLoop() }
            // The intake and the dispatch loop stop in order, and are awaited, in ``shutDown``; the loops above
            // once it is done (the offset maps are committed until the consumer closes).
            let intake = Task { await self.intakeLoop() }
            let dispatch = Task { await self.dispatchLoop() }
            let reason = await withGracefulShutdownHandler {
                await withTaskCancellationHandler {
                    var iterator = stops.makeAsyncIterator()
                    return await iterator.next() ?? .requested
                } onCancel: {
                    stop.yield(.requested)
                }
            } onGracefulShutdown: {
                self.stop.yield(.requested)
            }
            await shutDown(intake: intake, dispatch: dispatch, reason: reason)
            background.cancelAll()
            return reason
        }
        if case .failed(let error) = reason { throw error }
    }

    private func shutDown(intake: Task<Void, Never>, dispatch: Task<Void, Never>, reason: StopReason) async {
        // The drain clock starts at the signal, whatever stopping the intake takes.
        let drainEnd = ContinuousClock.now + configuration.drainTimeout
        let running = dispatcher.load.running
        logger.info(
            "Worker stopping: intake stopped, draining running jobs",
            metadata: ["running": "\(running)", "drain_timeout_s": "\(configuration.drainTimeout.secondsDouble)"]
        )
        // Close first: it refuses an admission the intake may be waiting in, so the intake can end.
        dispatcher.close()
        intake.cancel()
        await intake.value
        // The closed dispatcher hands out nothing more, so the loop ends (cancelled if it waits for a missing output
        // topic), and every job it started is in-flight work from here on (one handed out just before the close
        // included).
        dispatch.cancel()
        await dispatch.value
        let drained = await inFlight.waitUntilIdle(until: drainEnd)
        if !drained {
            let cancelled = inFlight.cancel()
            logger.warning(
                "Drain timeout: cancelled running jobs (they will be read again)",
                metadata: ["jobs": "\(cancelled)"]
            )
            // Cancelled jobs publish nothing more; they end at their next wait.
            if await !inFlight.waitUntilIdle(until: .now + .seconds(10)) {
                logger.warning(
                    "Cancelled jobs still running after 10 s; stopping beside them",
                    metadata: ["jobs": "\(inFlight.count())"]
                )
            }
        }
        // This worker's units go to the others at once, not after the lease (flushed with the outputs).
        fleet?.leave()
        do {
            try await producer.flush(timeout: .seconds(10))
        } catch {
            logger.warning("Producer flush incomplete", metadata: ["error": "\(error)"])
        }
        // The maps that grew since the last tick, while the client is still the application's (once close is asked,
        // the revocation handler can no longer commit); then leaving the group commits the stored watermarks (the
        // revocation handler finds nothing in flight, or only cancelled jobs, which publish nothing).
        tracker.commitChangedMaps()
        do {
            let consumer = self.consumer
            if try await withTimeout(.seconds(15), { try await consumer.close() }) == nil {
                logger.warning("Leaving the consumer group takes longer than 15 s; stopping without waiting")
            }
        } catch {
            logger.warning("Leaving the consumer group did not finish cleanly", metadata: ["error": "\(error)"])
        }
        await fleet?.close()
        await producer.close(timeout: .seconds(5))
        try? await client.shutdown()
        logger.info("Worker stopped", metadata: ["committable": "\(tracker.committable.count) partitions"])
    }

    // MARK: - Intake

    private func intakeLoop() async {
        do {
            for try await message in consumer.messages {
                if Task.isCancelled { break }
                let partition = message.topicPartition
                if let failpoint = failpoints.beforeRegistering { await failpoint(partition, message.offset) }
                let ticket: OffsetTracker.Ticket
                switch tracker.register(partition, offset: message.offset) {
                case .run(let registered): ticket = registered
                case .skipped:
                    metrics.jobsSkipped.increment()
                    continue
                case .refused: continue
                }
                switch decoder.decode(message.value) {
                case .failure(let rejection):
                    // Dead letters count as answers waiting for their acknowledgement: a flood of them (or a slow
                    // broker) holds the intake as it holds new jobs.
                    guard await gate.waitUntilOpen() else { return }
                    deadLetter(message, ticket: ticket, rejection: rejection)
                case .success(let job):
                    let admitted = AdmittedJob(
                        job: job,
                        ticket: ticket,
                        key: message.key,
                        headers: message.headers,
                        receivedAt: .now,
                        size: message.value?.count ?? 0
                    )
                    guard await dispatcher.admit(admitted) else { return }
                }
            }
        } catch {
            logger.error("Consuming jobs failed", metadata: ["error": "\(error)"])
            stop.yield(.failed(error))
        }
    }

    /// Publishes the dead letter of a record in a task of its own (so the intake reads on), counted as in-flight work
    /// of its partition: a revocation or shutdown waits for it like for a running job.
    private func deadLetter(_ message: KafkaConsumerMessage, ticket: OffsetTracker.Ticket, rejection: JobRejection) {
        logger.warning(
            "Job rejected to the dead-letter topic",
            metadata: [
                "partition": "\(message.topicPartition)", "offset": "\(message.offset)",
                "error": "\(rejection.code)", "reason": "\(rejection.message)",
            ]
        )
        let record = DeadLetterRecord.make(
            for: message,
            rejection: rejection,
            topic: configuration.topics.effectiveDeadLetter,
            group: configuration.kafka.groupID,
            workerID: configuration.workerID
        )
        let (publisher, metrics, gate) = (self.publisher, self.metrics, self.gate)
        gate.beginPublishing()
        inFlight.run(in: ticket.partition) {
            if await publisher.publish(Outcome(record: record, kind: .deadLetter), completing: ticket) != nil {
                metrics.jobsDeadLettered.increment()
            }
            gate.endPublishing()
        }
    }

    // MARK: - Dispatch

    private func makeRunner() -> JobRunner<GigaChatClient> {
        JobRunner(
            client: client,
            publisher: publisher,
            dispatcher: dispatcher,
            configuration: configuration,
            metrics: metrics,
            deadlines: deadlines,
            flow: flow,
            logger: logger
        )
    }

    /// Starts each job the dispatcher hands out, in a task of its own (so that a revocation can cancel this job
    /// alone), counted as in-flight work of its partition until it ends. ``shutDown`` waits for the jobs through
    /// ``InFlightWork``. (A child task per job that only awaited the job's task cost a task and a thread wake-up
    /// per job, issue 17.)
    private func dispatchLoop() async {
        let runner = makeRunner()
        // No new job starts while its answer could not be published (``OutputGate``).
        while await gate.waitUntilOpen(), let admitted = await dispatcher.nextRunnable() {
            inFlight.run(in: admitted.ticket.partition) { await runner.run(admitted) }
        }
    }

    /// Once a second, answers the held jobs whose own deadline passed while they waited (the circuit open, the
    /// limit lowered), each in a task counted as in-flight work of its partition.
    private func expiryLoop() async {
        let runner = makeRunner()
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(1))
            } catch {
                return
            }
            for admitted in dispatcher.takeExpired() {
                logger.info(
                    "Job deadline passed while it waited; answering deadline_exceeded",
                    metadata: ["job_id": "\(admitted.job.id)", "partition": "\(admitted.ticket.partition)"]
                )
                inFlight.run(in: admitted.ticket.partition) { await runner.expire(admitted) }
            }
        }
    }

    /// Every commit interval, commits the offset maps that grew while a slow job held their watermark (librdkafka's
    /// own periodic commit sends only offsets that moved).
    private func offsetMapLoop() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: configuration.kafka.commitInterval)
            } catch {
                return
            }
            tracker.commitChangedMaps()
        }
    }

    // MARK: - Assignment and revocation (consumer poll thread)

    private static func assign(
        _ partitions: [KafkaTopicPartition],
        consumer: ConsumerReference,
        tracker: OffsetTracker,
        logger: Logger
    ) {
        var committed: [KafkaTopicPartition: KafkaOffsetAndMetadata] = [:]
        do {
            committed = try consumer.consumer?.committedPositionsBlocking(partitions, timeout: .seconds(10)) ?? [:]
        } catch {
            logger.warning(
                "Could not read the committed offset maps; jobs finished above the committed offsets run again",
                metadata: ["error": "\(error)"]
            )
        }
        let skipped = tracker.assign(partitions, committed: committed)
        if !skipped.isEmpty {
            logger.info(
                "Offset map read: jobs finished above the committed offset will not run again",
                metadata: ["skipped": "\(skipped.map { "\($0.key)×\($0.value)" }.sorted().joined(separator: ", "))"]
            )
        }
    }

    private static func revoke(
        _ revocation: KafkaConsumerRevocation,
        dispatcher: Dispatcher,
        inFlight: InFlightWork,
        tracker: OffsetTracker,
        drainTimeout: Duration,
        logger: Logger
    ) {
        let partitions = Set(revocation.partitions)
        // No new job of these partitions is taken from here on (the consumer already dropped their buffered
        // messages; this refuses one the intake may hold).
        let ending = tracker.fence(partitions)
        let dropped = dispatcher.dropJobs(ofPartitions: ending)
        // A lost partition may belong to another member already: its running jobs stop at once (their outputs would
        // duplicate the new owner's, and their calls would exceed the fleet's share of the account). A revoked one
        // gets the drain timeout to finish.
        let drained = revocation.isLost ? false : inFlight.waitBlocking(for: partitions, timeout: drainTimeout)
        let cancelled = drained ? 0 : inFlight.cancel(partitions)
        // A lost partition may have been committed by its next owner already: nothing of it is committed.
        if !revocation.isLost { tracker.commitChangedMaps(of: partitions) }
        let committed = tracker.forget(partitions)
        logger.info(
            "Partitions revoked",
            metadata: [
                "partitions": "\(revocation.partitions.map(\.description).sorted().joined(separator: ", "))",
                "lost": "\(revocation.isLost)", "dropped_buffered": "\(dropped)", "cancelled_running": "\(cancelled)",
                "committed": "\(committed.map { "\($0.key)@\($0.value)" }.sorted().joined(separator: ", "))",
            ]
        )
    }
}
