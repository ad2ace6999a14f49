import Foundation
import GigaChat
import Kafka
import Synchronization
import Testing

@testable import WireFormat
@testable import Worker

@Suite struct PartialCoalescerTests {
    let start = ContinuousClock.now

    @Test func aDeltaArrivingAnIntervalAfterTheLastFlushGoesOutAtOnce() {
        var coalescer = PartialCoalescer(interval: .milliseconds(100), maxBytes: 1000, start: start)
        let first = coalescer.append("Hello", at: start + .milliseconds(150))
        #expect(
            first
                == PartialCoalescer.Flush(
                    seq: 0,
                    delta: "Hello",
                    isFinal: false,
                    newestArrival: start + .milliseconds(150)
                )
        )
        // Within the interval: held back.
        #expect(coalescer.append(", ", at: start + .milliseconds(170)) == nil)
        #expect(coalescer.append("world", at: start + .milliseconds(200)) == nil)
        #expect(coalescer.nextDue == start + .milliseconds(250))
        #expect(coalescer.due(at: start + .milliseconds(240)) == nil)
        let due = coalescer.due(at: start + .milliseconds(250))
        #expect(due?.delta == ", world")
        #expect(due?.seq == 1)
        #expect(due?.newestArrival == start + .milliseconds(200))
        let final = coalescer.finish(at: start + .milliseconds(300))
        #expect(final.seq == 2 && final.isFinal && final.delta.isEmpty)
    }

    @Test func sizeFlushesAtOnce() {
        var coalescer = PartialCoalescer(interval: .seconds(10), maxBytes: 8, start: start)
        #expect(coalescer.append("12345", at: start) == nil)
        #expect(coalescer.append("6789", at: start)?.delta == "123456789")
    }

    @Test func thePartialsConcatenateToTheStream() {
        var coalescer = PartialCoalescer(interval: .milliseconds(30), maxBytes: 16, start: start)
        var pieces: [String] = []
        var published: [PartialCoalescer.Flush] = []
        var now = start
        for index in 0..<200 {
            let piece = index % 7 == 0 ? "слово " : "w\(index) "
            pieces.append(piece)
            now = now + .milliseconds(index % 5 * 4)
            if let flush = coalescer.due(at: now) { published.append(flush) }
            if let flush = coalescer.append(piece, at: now) { published.append(flush) }
        }
        published.append(coalescer.finish(at: now))
        #expect(published.map(\.seq) == Array(0..<published.count))
        #expect(published.map(\.delta).joined() == pieces.joined())
        #expect(published.last?.isFinal == true)
        #expect(published.dropLast().allSatisfy { !$0.isFinal })
        #expect(published.count < 200, "coalesced, not one record per delta")
    }
}

@Suite struct FailurePolicyTests {
    @Test(
        arguments: [
            (GigaChatError.Code.rateLimited, 429, "retry"), (.server, 503, "retry"), (.server, 500, "retry"),
            (.transport, nil, "retry"), (.streamCut, nil, "retry"),
            (.badRequest, 400, "fail"), (.notFound, 404, "fail"), (.payloadTooLarge, 413, "fail"),
            (.unprocessable, 422, "fail"), (.decoding, nil, "fail"),
            (.paymentRequired, 402, "account"), (.forbidden, 403, "account"), (.unauthorized, 401, "account"),
        ] as [(GigaChatError.Code, Int?, String)]
    )
    func classifiesTransientPermanentAndAccountFaults(code: GigaChatError.Code, status: Int?, expected: String) {
        let decision = FailurePolicy.decide(GigaChatError(code: code, message: "x", httpStatus: status))
        switch decision {
        case .retry: #expect(expected == "retry")
        case .fail(let failure):
            #expect(expected == "fail")
            #expect(failure.httpStatus == status)
        case .accountFault: #expect(expected == "account")
        }
    }

    @Test func aDeadlineTimeoutIsPermanentAnIdleTimeoutTransient() {
        let deadline = GigaChatError(code: .timeout, message: "the call's deadline passed", isRetriable: false)
        let idle = GigaChatError(code: .timeout, message: "no data", isRetriable: true)
        #expect({ if case .fail = FailurePolicy.decide(deadline) { true } else { false } }())
        #expect(FailurePolicy.decide(idle) == .retry(retryAfter: nil))
    }

    @Test func backoffIsFullJitterUnderADoublingCeilingAndHonoursRetryAfter() {
        let initial = Duration.milliseconds(100)
        let maximum = Duration.seconds(1)
        #expect(
            FailurePolicy.backoff(attempt: 1, initial: initial, maximum: maximum, retryAfter: nil, random: 1)
                == .milliseconds(100)
        )
        #expect(
            FailurePolicy.backoff(attempt: 3, initial: initial, maximum: maximum, retryAfter: nil, random: 1)
                == .milliseconds(400)
        )
        #expect(
            FailurePolicy.backoff(attempt: 9, initial: initial, maximum: maximum, retryAfter: nil, random: 1)
                == .seconds(1)
        )
        #expect(
            FailurePolicy.backoff(attempt: 3, initial: initial, maximum: maximum, retryAfter: nil, random: 0) == .zero
        )
        #expect(
            FailurePolicy.backoff(
                attempt: 1,
                initial: initial,
                maximum: maximum,
                retryAfter: .milliseconds(700),
                random: 0
            ) == .milliseconds(700)
        )
        #expect(
            FailurePolicy.backoff(attempt: 1, initial: initial, maximum: maximum, retryAfter: .seconds(90), random: 0)
                == .seconds(1)
        )
    }
}

@Suite struct KeyedSchedulerTests {
    typealias Key = KeyedScheduler<Int>.Key

    private func key(_ name: String?, _ offset: Int64, partition: String = "jobs") -> Key {
        Key(partition: ownership(partition), key: name.map { Array($0.utf8) }, unique: offset)
    }

    private func ownership(_ topic: String) -> PartitionOwnership {
        PartitionOwnership(partition: KafkaTopicPartition(topic: topic, partition: 0), epoch: 1)
    }

    @Test func perKeyRunsOneJobOfAKeyAtATimeInOrder() {
        var scheduler = KeyedScheduler<Int>(perKey: true)
        scheduler.enqueue(0, key: key("a", 0))
        scheduler.enqueue(1, key: key("a", 1))
        scheduler.enqueue(2, key: key("b", 2))
        scheduler.enqueue(3, key: key("a", 3))
        #expect(scheduler.popReady() == 0)
        #expect(scheduler.popReady() == 2)
        #expect(scheduler.popReady() == nil, "a's next waits for a's first")
        scheduler.finish(key("a", 0))
        #expect(scheduler.popReady() == 1)
        scheduler.finish(key("a", 1))
        #expect(scheduler.popReady() == 3)
        #expect(scheduler.count == 0)
    }

    @Test func nullKeysAndUnorderedModeDoNotWait() {
        var perKey = KeyedScheduler<Int>(perKey: true)
        perKey.enqueue(0, key: key(nil, 0))
        perKey.enqueue(1, key: key(nil, 1))
        #expect(perKey.popReady() == 0 && perKey.popReady() == 1)
        var unordered = KeyedScheduler<Int>(perKey: false)
        unordered.enqueue(0, key: key("a", 0))
        unordered.enqueue(1, key: key("a", 1))
        #expect(unordered.popReady() == 0 && unordered.popReady() == 1)
    }

    @Test func partitionsTakeTurnsSoEveryBacklogDrainsAtTheSamePace() {
        for perKey in [false, true] {
            var scheduler = KeyedScheduler<Int>(perKey: perKey)
            // A batch of p0 arrives before one of p1 (as fetched): they still alternate.
            for offset in 0..<4 { scheduler.enqueue(offset, key: key(nil, Int64(offset), partition: "p0")) }
            for offset in 0..<2 { scheduler.enqueue(10 + offset, key: key(nil, Int64(offset), partition: "p1")) }
            scheduler.enqueue(20, key: key(nil, 0, partition: "p2"))
            var order: [Int] = []
            while let next = scheduler.popReady() { order.append(next) }
            #expect(order == [0, 10, 20, 1, 11, 2, 3], "perKey \(perKey)")
            #expect(scheduler.count == 0 && !scheduler.hasReady)
        }
    }

    @Test func removingAPartitionDropsItsJobsAndKeys() {
        var scheduler = KeyedScheduler<Int>(perKey: true)
        scheduler.enqueue(0, key: key("a", 0, partition: "p0"))
        scheduler.enqueue(1, key: key("a", 1, partition: "p0"))
        scheduler.enqueue(2, key: key("a", 0, partition: "p1"))
        #expect(scheduler.popReady() == 0)
        #expect(Set(scheduler.removeAll(ofPartitions: [ownership("p0")])) == [1])
        scheduler.finish(key("a", 0, partition: "p0"))  // the running job of the dropped partition ends: no effect
        #expect(scheduler.popReady() == 2)
        #expect(scheduler.count == 0)
    }
}

@Suite(.timeLimit(.minutes(1))) struct DispatcherTests {
    private func job(_ offset: Int64, key: String? = nil, size: Int = 10, deadline: Date? = nil) -> AdmittedJob {
        var job = Job(id: "j\(offset)", messages: [.user("hi")])
        job.deadline = deadline
        return AdmittedJob(
            job: job,
            ticket: OffsetTracker.Ticket(
                ownership: PartitionOwnership(partition: KafkaTopicPartition(topic: "jobs", partition: 0), epoch: 1),
                offset: offset
            ),
            key: key.map { Array($0.utf8) },
            headers: [],
            receivedAt: .now,
            size: size
        )
    }

    @Test func heldJobsPastTheirOwnDeadlineAreTakenWithoutASlot() async {
        // Defect: while the circuit was open (limit 0) buffered jobs were not ended at their own deadline.
        func dated(_ offset: Int64, key: String? = nil, deadline: Date?) -> AdmittedJob {
            job(offset, key: key, deadline: deadline)
        }
        let now = Date()
        let unordered = Dispatcher(limit: 0, perKey: false, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20)
        #expect(await unordered.admit(dated(0, deadline: now.addingTimeInterval(-1))))
        #expect(await unordered.admit(dated(1, deadline: now.addingTimeInterval(60))))
        #expect(await unordered.admit(dated(2, deadline: nil)))
        #expect(unordered.takeExpired(now: now).map(\.ticket.offset) == [0])
        #expect(unordered.load.buffered == 2 && unordered.load.running == 0)
        #expect(unordered.takeExpired(now: now.addingTimeInterval(61)).map(\.ticket.offset) == [1])

        // Per key: the next job of the key is taken only after the first one's completion (finishKey).
        let perKey = Dispatcher(limit: 0, perKey: true, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20)
        let first = dated(0, key: "k", deadline: now.addingTimeInterval(-1))
        #expect(await perKey.admit(first))
        #expect(await perKey.admit(dated(1, key: "k", deadline: now.addingTimeInterval(-1))))
        #expect(perKey.takeExpired(now: now).map(\.ticket.offset) == [0])
        #expect(perKey.takeExpired(now: now).isEmpty)
        perKey.finishKey(first.schedulingKey)
        #expect(perKey.takeExpired(now: now).map(\.ticket.offset) == [1])
        #expect(perKey.load.buffered == 0)
    }

    @Test func handsOutNoMoreThanTheLimitAndRetriesGoFirst() async {
        let dispatcher = Dispatcher(limit: 2, perKey: false, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20)
        for offset in Int64(0)..<4 { #expect(await dispatcher.admit(job(offset))) }
        #expect(await dispatcher.nextRunnable()?.ticket.offset == 0)
        #expect(await dispatcher.nextRunnable()?.ticket.offset == 1)
        #expect(dispatcher.load == (2, 2, 0))
        // A third waits until a slot is released; a retry waiting for a slot gets it before new jobs.
        let retry = Task { await dispatcher.acquireSlot() }
        let waitStart = ContinuousClock.now
        while dispatcher.load.retrying == 0, ContinuousClock.now - waitStart < .seconds(10) {
            try? await Task.sleep(for: .milliseconds(10))
        }
        #expect(dispatcher.load == (2, 2, 1), "the waiting retry counts in the worker's demand")
        let next = Task { await dispatcher.nextRunnable()?.ticket.offset }
        try? await Task.sleep(for: .milliseconds(50))
        dispatcher.releaseSlot()
        #expect(await retry.value)
        dispatcher.releaseSlot()
        #expect(await next.value == 2)
        #expect(dispatcher.load.running == 2)
    }

    @Test func aSlotGivenBackThatNoJobHereCanUseIsSignalled() async {
        // The fleet budget reports such a unit at once, so another worker need not wait for a tick to take it.
        let dispatcher = Dispatcher(limit: 3, perKey: false, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20)
        let freed = Mutex(0)
        // The hook reads the dispatcher (as the flow controller does): called under its lock, this would deadlock.
        dispatcher.onUnitFreed { [dispatcher] in freed.withLock { $0 += dispatcher.load.running >= 0 ? 1 : 0 } }
        for offset in Int64(0)..<5 { #expect(await dispatcher.admit(job(offset))) }
        for _ in 0..<3 { _ = await dispatcher.nextRunnable() }
        // Two jobs wait in the buffer: a released slot is one of theirs.
        dispatcher.releaseSlot()
        #expect(freed.withLock { $0 } == 0, "the unit still has work here")
        #expect(await dispatcher.nextRunnable()?.ticket.offset == 3)
        // The limit lowered below what runs: every slot given back while draining leaves.
        dispatcher.setLimit(1)
        dispatcher.releaseSlot()
        #expect(freed.withLock { $0 } == 1, "3 running over a limit of 1")
        dispatcher.releaseSlot()
        #expect(freed.withLock { $0 } == 2, "2 running over a limit of 1")
        // At the limit with one job still held: the slot is its.
        dispatcher.setLimit(2)
        let last = Task { await dispatcher.nextRunnable()?.ticket.offset }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(await last.value == 4)
        dispatcher.releaseSlot()
        #expect(freed.withLock { $0 } == 3, "nothing left to run: the work ran short of the limit")
    }

    @Test func admissionWaitsWhileTheBufferIsFull() async {
        let dispatcher = Dispatcher(limit: 1, perKey: false, maxBufferedJobs: 2, maxBufferedBytes: 1 << 20)
        #expect(await dispatcher.admit(job(0)))
        #expect(await dispatcher.admit(job(1)))
        let third = Task { await dispatcher.admit(job(2)) }
        try? await Task.sleep(for: .milliseconds(100))
        #expect(dispatcher.load.buffered == 2, "the third waits")
        #expect(await dispatcher.nextRunnable()?.ticket.offset == 0)
        #expect(await third.value)
        #expect(dispatcher.load.buffered == 2)
    }

    @Test func admissionIsBoundedInBytesButAlwaysTakesOneJob() async {
        let dispatcher = Dispatcher(limit: 1, perKey: false, maxBufferedJobs: 100, maxBufferedBytes: 100)
        #expect(await dispatcher.admit(job(0, size: 500)), "one job larger than the bound is still taken")
        let second = Task { await dispatcher.admit(job(1, size: 10)) }
        try? await Task.sleep(for: .milliseconds(100))
        #expect(dispatcher.load.buffered == 1)
        _ = await dispatcher.nextRunnable()
        #expect(await second.value)
    }

    @Test func perKeyStartsTheNextJobOfAKeyOnlyWhenTheFirstFinishes() async {
        let dispatcher = Dispatcher(limit: 4, perKey: true, maxBufferedJobs: 10, maxBufferedBytes: 1 << 20)
        _ = await dispatcher.admit(job(0, key: "a"))
        _ = await dispatcher.admit(job(1, key: "a"))
        _ = await dispatcher.admit(job(2, key: "b"))
        let first = await dispatcher.nextRunnable()
        let second = await dispatcher.nextRunnable()
        #expect(first?.ticket.offset == 0 && second?.ticket.offset == 2)
        let third = Task { await dispatcher.nextRunnable()?.ticket.offset }
        try? await Task.sleep(for: .milliseconds(50))
        dispatcher.finishKey(first!.schedulingKey)
        #expect(await third.value == 1)
    }

    @Test func closeDropsHeldJobsAndEndsTheDispatchLoop() async {
        let dispatcher = Dispatcher(limit: 1, perKey: false, maxBufferedJobs: 1, maxBufferedBytes: 1 << 20)
        _ = await dispatcher.admit(job(0))
        let waiting = Task { await dispatcher.admit(job(1)) }
        try? await Task.sleep(for: .milliseconds(50))
        dispatcher.close()
        #expect(await waiting.value == false)
        #expect(await dispatcher.nextRunnable() == nil)
        #expect(await dispatcher.admit(job(2)) == false)
    }

    @Test func droppingARevokedPartitionsJobsAnswersAWaitingAdmission() async {
        let dispatcher = Dispatcher(limit: 1, perKey: false, maxBufferedJobs: 1, maxBufferedBytes: 1 << 20)
        _ = await dispatcher.admit(job(0))
        let waiting = Task { await dispatcher.admit(job(1)) }
        try? await Task.sleep(for: .milliseconds(50))
        #expect(
            dispatcher.dropJobs(ofPartitions: [
                PartitionOwnership(partition: KafkaTopicPartition(topic: "jobs", partition: 0), epoch: 1)
            ]) == 2
        )
        #expect(await waiting.value, "the intake moves on")
        #expect(dispatcher.load.buffered == 0)
    }
}

@Suite(.timeLimit(.minutes(1))) struct AttemptDeadlinesTests {
    @Test func anAttemptPastItsDeadlineIsCancelledAndSaysSo() async {
        let deadlines = AttemptDeadlines(interval: .milliseconds(20))
        let sweeper = Task { await deadlines.runSweeper() }
        defer { sweeper.cancel() }
        let start = ContinuousClock.now
        let (value, expired) = await deadlines.run(until: .now + .milliseconds(200)) {
            do {
                try await Task.sleep(for: .seconds(30))
                return "finished"
            } catch {
                return "cancelled"
            }
        }
        #expect(value == "cancelled" && expired)
        #expect(ContinuousClock.now - start < .seconds(5))
        let (quick, late) = await deadlines.run(until: .now + .seconds(30)) { "done" }
        #expect(quick == "done" && !late)
    }
}

@Suite struct JobClockTests {
    let start = ContinuousClock.now

    @Test func theTimeoutCountsTheJobsOwnTimeAndPausesWhileItWaitsOnTheAccount() {
        var clock = JobClock(timeout: .seconds(10), deadline: nil, now: start)
        #expect(!clock.hasEnded(at: start + .seconds(9)))
        #expect(clock.hasEnded(at: start + .seconds(10)))
        // 30 s waiting for a slot while the account's circuit was open: not the job's time.
        clock.pause(.seconds(30))
        #expect(!clock.hasEnded(at: start + .seconds(39)))
        #expect(clock.hasEnded(at: start + .seconds(40)))
        clock.pause(.seconds(-5))
        #expect(clock.end == start + .seconds(40), "a negative wait moves nothing")
    }

    @Test func theJobsOwnDeadlineNeverMoves() {
        var clock = JobClock(timeout: .seconds(10), deadline: start + .seconds(15), now: start)
        #expect(clock.end == start + .seconds(10))
        clock.pause(.seconds(30))
        #expect(clock.end == start + .seconds(15))
        #expect(clock.hasEnded(at: start + .seconds(15)))
    }
}

@Suite(.timeLimit(.minutes(1))) struct SlotHoldTests {
    @Test func waitingForASlotEndsAtTheDeadlineAndTakesNoSlot() async {
        let dispatcher = Dispatcher(limit: 1, perKey: false, maxBufferedJobs: 1, maxBufferedBytes: 1 << 20)
        _ = await dispatcher.admit(
            AdmittedJob(
                job: Job(id: "j", messages: [.user("hi")]),
                ticket: OffsetTracker.Ticket(
                    ownership: PartitionOwnership(
                        partition: KafkaTopicPartition(topic: "jobs", partition: 0),
                        epoch: 1
                    ),
                    offset: 0
                ),
                key: nil,
                headers: [],
                receivedAt: .now,
                size: 10
            )
        )
        _ = await dispatcher.nextRunnable()
        let slot = SlotHold(dispatcher: dispatcher)
        // The account's circuit opens: no slots; the job gives its own back and waits.
        dispatcher.setLimit(0)
        slot.release()
        #expect(dispatcher.load.running == 0)
        let start = ContinuousClock.now
        #expect(await slot.reacquire(until: .now + .milliseconds(200)) == .expired)
        #expect(ContinuousClock.now - start >= .milliseconds(200))
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(dispatcher.load.running == 0, "no slot taken")
        slot.release()
        #expect(dispatcher.load.running == 0, "nothing to release")
        // A slot that frees up before the deadline is taken, and released once.
        let waiting = Task { await slot.reacquire(until: .now + .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(100))
        dispatcher.setLimit(1)
        #expect(await waiting.value == .acquired)
        #expect(dispatcher.load.running == 1)
        slot.release()
        slot.release()
        #expect(dispatcher.load.running == 0)
    }

    @Test func withoutADeadlineItWaitsUntilCancelled() async {
        let dispatcher = Dispatcher(limit: 0, perKey: false, maxBufferedJobs: 1, maxBufferedBytes: 1 << 20)
        let slot = SlotHold(dispatcher: dispatcher)
        let waiting = Task { await slot.reacquire(until: nil) }
        try? await Task.sleep(for: .milliseconds(100))
        waiting.cancel()
        #expect(await waiting.value == .cancelled)
        let bounded = Task { await slot.reacquire(until: .now + .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(100))
        bounded.cancel()
        #expect(await bounded.value == .cancelled)
        #expect(dispatcher.load.running == 0, "no slot taken by either")
    }
}
