import CRdKafka
import Logging

/// The C callbacks every client installs; each finds its client's ``RDKafkaClientContext`` through
/// `rd_kafka_opaque`.
enum RDKafkaCallbacks {
    /// `log_cb`: librdkafka's log lines -> swift-log, secrets scrubbed.
    static let log: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = {
        client,
        level,
        facility,
        buffer in
        guard let context = RDKafkaClientContext.of(client) else { return }
        let swiftLevel = RDKafkaClientContext.logLevel(syslog: level)
        guard context.logger.logLevel <= swiftLevel else { return }
        let text = buffer.map { String(cString: $0) } ?? ""
        let name = client.flatMap { rd_kafka_name($0) }.map { String(cString: $0) } ?? ""
        context.logger.log(
            level: swiftLevel,
            "\(context.scrub(text))",
            metadata: [
                "rdkafka.facility": .string(facility.map { String(cString: $0) } ?? ""),
                "rdkafka.client": .string(name),
            ]
        )
    }

    /// `error_cb`: client-level errors (broker down, fatal idempotence errors) -> log and `onError`.
    static let error: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void =
        {
            client,
            code,
            reason,
            _ in
            guard let context = RDKafkaClientContext.of(client) else { return }
            let err = rd_kafka_resp_err_t(code)
            var error: KafkaError
            if err == RD_KAFKA_RESP_ERR__FATAL, let client {
                // The error callback only says "fatal"; the original error says why.
                var buffer = [CChar](repeating: 0, count: 512)
                let original = rd_kafka_fatal_error(client, &buffer, buffer.count)
                let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                error = KafkaError.rdKafka(original, fallback: .fatal, context: context.scrub(text))
                error.code = .fatal
                error.code.rdKafkaCode = original.rawValue
                error.isFatal = true
                error.isRetriable = false
            } else {
                let text = reason.map { String(cString: $0) } ?? ""
                error = KafkaError.rdKafka(err, fallback: .transport, context: context.scrub(text))
            }
            // librdkafka logs a failed connection itself (facility FAIL), so that one only goes to debug.
            let level: Logger.Level =
                error.isFatal ? .critical : (err == RD_KAFKA_RESP_ERR__TRANSPORT ? .debug : .warning)
            context.logger.log(level: level, "librdkafka error: \(error)")
            context.onError?(error)
        }

    /// `rebalance_cb`: forwards to the consumer.
    static let rebalance:
        @convention(c) (
            OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
            UnsafeMutableRawPointer?
        ) -> Void = { client, err, partitions, _ in
            guard let client, let context = RDKafkaClientContext.of(client) else { return }
            context.onRebalance?(client, err, partitions)
        }

    /// `offset_commit_cb`: results of commits; only failures matter (they are logged).
    static let offsetCommit:
        @convention(c) (
            OpaquePointer?, rd_kafka_resp_err_t, UnsafeMutablePointer<rd_kafka_topic_partition_list_t>?,
            UnsafeMutableRawPointer?
        ) -> Void = { client, err, offsets, _ in
            guard let context = RDKafkaClientContext.of(client) else { return }
            var failures: [String] = []
            if let offsets {
                for element in RDKafkaTopicPartitionList.elements(offsets)
                where element.err != RD_KAFKA_RESP_ERR_NO_ERROR {
                    let topic = String(cString: element.topic)
                    failures.append(
                        "\(topic)[\(element.partition)]@\(element.offset): \(String(cString: rd_kafka_err2str(element.err)))"
                    )
                }
            }
            if err == RD_KAFKA_RESP_ERR_NO_ERROR && failures.isEmpty {
                return
            }
            if err == RD_KAFKA_RESP_ERR__NO_OFFSET { return }  // nothing to commit is not a failure
            context.logger.warning(
                "Offset commit failed: \(String(cString: rd_kafka_err2str(err)))",
                metadata: ["partitions": .string(failures.joined(separator: ", "))]
            )
        }
}
