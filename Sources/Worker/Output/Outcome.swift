import Kafka
import WireFormat

/// An output that an input offset waits for: a job's completion, or a record's dead letter.
///
/// When the broker refuses it for good (too large, or a reply topic that does not exist), ``replacement(after:completionsTopic:)``
/// says what goes out instead, so every job still ends with exactly one output and its offset can move:
/// - a completion for a reply topic that does not exist goes to the completions topic, with the header
///   `gigachat_worker-reply-topic-unavailable` naming the topic (the answer is kept: it was paid for);
/// - a completion that is too large becomes a failed one with the code `output_too_large` (content, function call,
///   parsed value, vectors and the echoed `metadata` left out), then, if still too large, one without the input's copied headers; its
///   topic and partition (Spring's `kafka_replyPartition`) stay;
/// - a dead letter that is too large loses its value (header `gigachat_worker-value-omitted`), then the input's
///   copied headers.
/// A missing completions or dead-letter topic has no replacement: the publisher waits for it (``OutputGate``).
struct Outcome: Sendable {
    enum Kind: Sendable {
        case completion(CompletionRecord)
        case deadLetter
    }

    var record: KafkaProducerRecord
    var kind: Kind

    /// `gigachat_worker-reply-topic-unavailable`: the reply topic the completion could not go to.
    static let replyTopicUnavailableHeader = "gigachat_worker-reply-topic-unavailable"
    /// `gigachat_worker-headers-omitted`: the input's headers were left out to fit the topic's size limit.
    static let headersOmittedHeader = "gigachat_worker-headers-omitted"

    static func completion(_ completion: CompletionRecord, record: KafkaProducerRecord) -> Outcome {
        Outcome(record: record, kind: .completion(completion))
    }

    /// What to publish instead after the broker refused this for good, or `nil` when nothing smaller or elsewhere
    /// can be sent (then the publisher retries the same record and reports the topic as blocked).
    func replacement(after error: KafkaError, completionsTopic: String) -> Outcome? {
        switch (kind, error.code) {
        case (.completion, .unknownTopic) where record.partition != nil:
            // Spring's `kafka_replyPartition` may name a partition that does not exist: the topic's own partitioner.
            var replaced = self
            replaced.record.partition = nil
            return replaced
        case (.completion, .unknownTopic):
            return movedToCompletionsTopic(completionsTopic)
        case (.completion(let completion), .messageTooLarge):
            if completion.error?.code != .outputTooLarge {
                var smaller = completion
                smaller.status = .failed
                smaller.content = nil
                smaller.functionCall = nil
                smaller.parsed = nil
                smaller.embeddings = nil
                smaller.reasoningContent = nil
                // The echoed metadata goes, except the id of a file `submit --attach` uploaded: `collect` deletes the
                // file by it.
                smaller.metadata = UploadedFileMetadata.fileID(in: smaller.metadata).map {
                    .object([UploadedFileMetadata.key: .string($0)])
                }
                smaller.error = CompletionRecord.Failure(
                    code: .outputTooLarge,
                    message: "the completion (\(record.value?.count ?? 0) bytes) is larger than the topic accepts"
                )
                var replaced = self
                replaced.kind = .completion(smaller)
                replaced.record.value = smaller.jsonBytes
                return replaced
            }
            if let smaller = withoutInputHeaders(keeping: { $0 == "kafka_correlationId" || $0 == "traceparent" }) {
                return smaller
            }
            // A reply topic with a smaller size limit than ours: the completions topic takes it.
            return movedToCompletionsTopic(completionsTopic)
        case (.deadLetter, .messageTooLarge):
            if record.value != nil {
                var replaced = self
                replaced.record.value = nil
                replaced.record.headers.append(
                    KafkaHeader(key: DeadLetterRecord.valueOmittedHeader, value: Self.messageTooLarge)
                )
                return replaced
            }
            return withoutInputHeaders(keeping: { $0.hasPrefix("kafka_dlt-") })
        default:
            return nil
        }
    }

    /// The value of the headers that say what was left out for the topic's size limit.
    private static let messageTooLarge = Array("message_too_large".utf8)

    /// The completion on the completions topic (its own partitioner), with the header naming the reply topic it
    /// could not go to; `nil` when it is on the completions topic already.
    private func movedToCompletionsTopic(_ completionsTopic: String) -> Outcome? {
        guard record.topic != completionsTopic else { return nil }
        var moved = self
        moved.record.topic = completionsTopic
        moved.record.partition = nil
        moved.record.headers.append(KafkaHeader(key: Self.replyTopicUnavailableHeader, value: Array(record.topic.utf8)))
        return moved
    }

    /// A partial without the input's copied headers (it went over the topic's size limit only because of them), or
    /// `nil` when there are none to leave out.
    static func partialWithoutInputHeaders(_ record: KafkaProducerRecord) -> KafkaProducerRecord? {
        guard record.headers.contains(where: { $0.key != headersOmittedHeader }) else { return nil }
        var smaller = record
        smaller.headers = [KafkaHeader(key: headersOmittedHeader, value: Self.messageTooLarge)]
        return smaller
    }

    /// The record without the headers copied from the input (ours, `gigachat_worker-*`, and those `keeping` names
    /// stay), or `nil` when there is nothing to leave out.
    private func withoutInputHeaders(keeping: (String) -> Bool) -> Outcome? {
        let kept = record.headers.filter { $0.key.hasPrefix("gigachat_worker-") || keeping($0.key) }
        guard kept.count < record.headers.count else { return nil }
        var replaced = self
        replaced.record.headers = kept + [KafkaHeader(key: Self.headersOmittedHeader, value: Self.messageTooLarge)]
        return replaced
    }
}
