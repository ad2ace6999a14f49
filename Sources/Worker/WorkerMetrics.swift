import Metrics

/// The worker's metrics (swift-metrics; exported in Prometheus format when the executable bootstraps a backend,
/// no-ops otherwise). Created once: a metric object per label set, so the hot path does no lookups.
final class WorkerMetrics: Sendable {
    let jobsOK = Counter(label: "gigachat_worker_jobs_total", dimensions: [("status", "ok")])
    let jobsFailed = Counter(label: "gigachat_worker_jobs_total", dimensions: [("status", "failed")])
    let jobsDeadLettered = Counter(label: "gigachat_worker_jobs_total", dimensions: [("status", "dead_lettered")])
    /// Jobs read again after a restart or reassignment that the committed offset map says were finished.
    let jobsSkipped = Counter(label: "gigachat_worker_jobs_skipped_total")
    let jobsInFlight = Meter(label: "gigachat_worker_jobs_in_flight")
    let jobDuration = Timer(label: "gigachat_worker_job_duration_seconds", preferredDisplayUnit: .seconds)
    let timeToFirstToken = Timer(label: "gigachat_worker_time_to_first_token_seconds", preferredDisplayUnit: .seconds)
    let attempts = Counter(label: "gigachat_worker_attempts_total")
    let retries = Counter(label: "gigachat_worker_retries_total")
    /// Corrective attempts for answers that broke their job's output format (structured output).
    let corrections = Counter(label: "gigachat_worker_corrections_total")
    let partials = Counter(label: "gigachat_worker_partials_total")
    let partialPublishDelay = Timer(
        label: "gigachat_worker_partial_publish_delay_seconds",
        preferredDisplayUnit: .seconds
    )
    let promptTokens = Counter(label: "gigachat_worker_tokens_total", dimensions: [("kind", "prompt")])
    let completionTokens = Counter(label: "gigachat_worker_tokens_total", dimensions: [("kind", "completion")])
    let precachedTokens = Counter(label: "gigachat_worker_tokens_total", dimensions: [("kind", "precached")])
    let concurrencyLimit = Gauge(label: "gigachat_worker_concurrency_limit")
    let partitionsAssigned = Gauge(label: "gigachat_worker_partitions_assigned")
    let circuitOpen = Gauge(label: "gigachat_worker_circuit_open")
    /// Reports this worker sent to the fleet topic (the demand budget).
    let fleetReports = Counter(label: "gigachat_worker_fleet_reports_total")

    init() {}
}
