import Dispatch

/// Owns the admin client; hands its destruction to a Dispatch thread (destroying joins librdkafka's threads,
/// which must not block the cooperative pool).
final class RDKafkaAdminOwner: Sendable {
    let client: RDKafkaClient
    let queue = DispatchQueue(label: "kafka.admin")

    init(client: RDKafkaClient) {
        self.client = client
    }

    deinit {
        let client = client
        queue.async { withExtendedLifetime(client) {} }
    }
}
