import GigaChat
import Synchronization

/// Gathers a streamed answer from its chunks where they arrive (an event-loop thread, see
/// ``ChatCompleting/streamChat(_:headers:onChunk:)``) and hands each text delta to the attempt's ``PartialStream``.
///
/// Nothing here waits: a chunk costs one uncontended lock, and the task that runs the attempt is woken only when
/// the answer ended (not once per event).
final class StreamedAnswer: Sendable {
    private let answer: Mutex<AttemptAnswer>
    private let partials: PartialStream
    private let start: ContinuousClock.Instant

    init(partials: PartialStream, start: ContinuousClock.Instant) {
        self.answer = Mutex(AttemptAnswer(content: "", timeToFirstToken: .zero, partials: partials))
        self.partials = partials
        self.start = start
    }

    /// Adds a chunk's delta, finish reason, usage, model and extras.
    func add(_ chunk: ChatChunk) {
        let text = chunk.content
        answer.withLock { answer in
            if answer.timeToFirstToken == .zero { answer.timeToFirstToken = .now - start }
            answer.content += text
            if let usage = chunk.usage { answer.usage = usage }
            if let model = chunk.model { answer.model = model }
            // The first choice's members through the subscript, which lends it (a copy of the choice retained every
            // string of its delta, each event).
            guard !chunk.choices.isEmpty else { return }
            if let reason = chunk.choices[0].finishReason { answer.finishReason = reason.rawValue }
            if let call = chunk.choices[0].delta.functionCall { answer.functionCall = call }
            // Appended in place: the text gathered so far is not copied for every event.
            if let reasoning = chunk.choices[0].delta.reasoningContent {
                if answer.reasoning == nil { answer.reasoning = reasoning } else { answer.reasoning! += reasoning }
            }
            if let files = chunk.choices[0].delta.attachments {
                if answer.files == nil { answer.files = files } else { answer.files! += files }
            }
        }
        if !text.isEmpty { partials.add(text) }
    }

    /// The answer so far (all of it once the call returned).
    var collected: AttemptAnswer { answer.withLock { $0 } }
}
