import Logging

/// A logger for one job that adds the job's id, partition, offset and attempt to what it logs, building that
/// metadata only when a line is actually written.
struct JobLogger: Sendable {
    let logger: Logger
    let jobID: String
    let ticket: OffsetTracker.Ticket

    private func metadata(_ extra: Logger.Metadata) -> Logger.Metadata {
        var metadata = extra
        metadata["job_id"] = "\(jobID)"
        metadata["partition"] = "\(ticket.partition)"
        metadata["offset"] = "\(ticket.offset)"
        return metadata
    }

    func debug(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        logger.debug(message(), metadata: self.metadata(metadata()))
    }

    func info(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        logger.info(message(), metadata: self.metadata(metadata()))
    }

    func warning(_ message: @autoclosure () -> Logger.Message, metadata: @autoclosure () -> Logger.Metadata = [:]) {
        logger.warning(message(), metadata: self.metadata(metadata()))
    }
}
