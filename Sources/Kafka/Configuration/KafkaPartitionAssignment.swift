/// How a consumer group shares partitions among its members (`partition.assignment.strategy`).
public enum KafkaPartitionAssignment: Sendable {
    /// Eager: contiguous ranges per topic (`range`).
    case range
    /// Eager: partitions dealt out one by one (`roundrobin`).
    case roundRobin
    /// Cooperative: only the partitions that move are revoked (`cooperative-sticky`).
    case cooperativeSticky

    var rdKafkaValue: String {
        switch self {
        case .range: "range"
        case .roundRobin: "roundrobin"
        case .cooperativeSticky: "cooperative-sticky"
        }
    }
}
