import Foundation
import Kafka
import Logging
import NIOPosix
import Synchronization
import Testing

@testable import WireFormat
@testable import Worker

@Suite(.timeLimit(.minutes(1))) struct PartialStreamTests {
    func partialStream(
        _ sink: ScriptedSink,
        coalescer: PartialCoalescer = PartialCoalescer(interval: .seconds(60), maxBytes: 4, start: .now)
    ) -> PartialStream {
        let publisher = OutcomePublisher(
            sink: sink,
            tracker: OffsetTracker { _ in },
            completionsTopic: "completions",
            gate: OutputGate(limit: 4, logger: Logger(label: "test")),
            logger: Logger(label: "test"),
            initialBackoff: .milliseconds(5),
            maximumBackoff: .milliseconds(20)
        )
        return PartialStream(
            publisher: publisher,
            topic: "partials",
            jobID: "job-1",
            attemptID: "a-1",
            attempt: 1,
            headers: [],
            // By default every delta of 4 bytes or more is a partial at once: each `add` publishes.
            coalescer: coalescer,
            metrics: WorkerMetrics()
        )
    }

    /// `add` runs where the stream's bytes arrive and must not wait; a full producer queue hands the sending to a
    /// task, which publishes every partial, in `seq` order, though the attempt never finishes.
    @Test func aFullProducerQueueDelaysPartialsButLosesNoneAndKeepsTheirOrder() async throws {
        let sink = ScriptedSink { _, index in index < 3 ? .refuse(.queueFull) : .report(nil) }
        let partials = partialStream(sink)
        for delta in ["one ", "two ", "three "] { partials.add(delta) }
        let deadline = ContinuousClock.now + .seconds(10)
        while sink.records.count < 6, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let handed = try sink.records.map {
            try JSONDecoder().decode(PartialRecord.self, from: Data(try #require($0.value)))
        }
        // Three refusals of seq 0, then 0, 1, 2 accepted.
        #expect(handed.map(\.seq) == [0, 0, 0, 0, 1, 2])
        #expect(handed.suffix(3).map(\.delta) == ["one ", "two ", "three "])
        #expect(await partials.deliverAll())
    }

    /// Text that waits for company goes out by the timer when no delta follows; a stopped stream's timer publishes
    /// nothing more (its final partial is ``PartialStream/finish()``'s).
    @Test func pendingTextGoesOutWhenItIsDueAndAStoppedStreamHoldsIt() async throws {
        func stream(_ sink: ScriptedSink) -> PartialStream {
            partialStream(
                sink,
                coalescer: PartialCoalescer(interval: .milliseconds(100), maxBytes: 1 << 20, start: .now)
            )
        }
        let sink = ScriptedSink { _, _ in .report(nil) }
        let partials = stream(sink)
        partials.add("first ")
        partials.add("words")
        #expect(sink.records.isEmpty)  // not due yet
        let deadline = ContinuousClock.now + .seconds(5)
        while sink.records.isEmpty, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let first = try #require(sink.records.first?.value)
        #expect(try JSONDecoder().decode(PartialRecord.self, from: Data(first)).delta == "first words")

        // Text, then the call ends at once: the timer leaves the text for the final partial.
        let stopped = ScriptedSink { _, _ in .report(nil) }
        let held = stream(stopped)
        held.add("more")
        held.stop()
        try await Task.sleep(for: .milliseconds(300))
        #expect(stopped.records.isEmpty)
        await held.finish()
        #expect(await held.deliverAll())
        let last = try JSONDecoder().decode(PartialRecord.self, from: Data(try #require(stopped.records.last?.value)))
        #expect(last.delta == "more")
        #expect(last.isFinal)
        #expect(stopped.records.count == 1)
    }

    /// Deltas that arrive on an event loop are flushed there, by the loop's shared timers, each stream's text in a
    /// partial of its own.
    @Test func streamsOnOneLoopAreFlushedByItsTimers() async throws {
        let sinks = (0..<3).map { _ in ScriptedSink { _, _ in .report(nil) } }
        let streams = sinks.map { sink in
            partialStream(
                sink,
                coalescer: PartialCoalescer(interval: .milliseconds(50), maxBytes: 1 << 20, start: .now)
            )
        }
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        try await loop.submit {
            for (index, stream) in streams.enumerated() { stream.add("text \(index)") }
        }.get()
        let deadline = ContinuousClock.now + .seconds(5)
        while sinks.contains(where: \.records.isEmpty), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        for (index, sink) in sinks.enumerated() {
            let record = try #require(sink.records.first?.value)
            #expect(try JSONDecoder().decode(PartialRecord.self, from: Data(record)).delta == "text \(index)")
            #expect(sink.records.count == 1)
        }
    }
}
