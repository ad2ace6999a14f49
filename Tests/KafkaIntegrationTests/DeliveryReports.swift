import TestSupport
import Kafka
import Synchronization

/// Collects delivery reports, which arrive on the producer's poll thread.
final class DeliveryReports: Sendable {
    private let state = Mutex<(metadata: [Int: KafkaRecordMetadata], failures: [Int: KafkaError])>(([:], [:]))

    func record(id: Int, _ result: Result<KafkaRecordMetadata, KafkaError>) {
        state.withLock { state in
            switch result {
            case .success(let metadata): state.metadata[id] = metadata
            case .failure(let error): state.failures[id] = error
            }
        }
    }

    /// Every report as metadata by id; throws when a delivery failed or a report is missing.
    func all(expected: Int) throws -> [Int: KafkaRecordMetadata] {
        try state.withLock { state in
            if let (id, error) = state.failures.first {
                throw HarnessError("delivery of id \(id) failed (and \(state.failures.count - 1) more): \(error)")
            }
            guard state.metadata.count == expected else {
                throw HarnessError("\(state.metadata.count) delivery reports after flush, expected \(expected)")
            }
            return state.metadata
        }
    }
}
