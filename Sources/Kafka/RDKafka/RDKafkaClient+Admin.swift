import CRdKafka

// MARK: - RDKafkaClient + Admin (the admin API's C calls, for KafkaAdmin)

extension RDKafkaClient {
    /// A client for the admin API (librdkafka's admin clients are producers).
    static func admin(properties: [(String, String)], context: RDKafkaClientContext) throws(KafkaError) -> RDKafkaClient
    {
        try RDKafkaClient(type: RD_KAFKA_PRODUCER, properties: properties, context: context)
    }

    /// Creates a topic and waits for the answer (``KafkaAdmin/createTopic(_:partitions:replicationFactor:configs:timeout:)``
    /// runs it off the cooperative pool); every object it creates is destroyed before it returns. A topic that
    /// already exists is not an error.
    func createTopic(
        _ name: String,
        partitions: Int32,
        replicationFactor: Int16,
        configs: [String: String] = [:],
        milliseconds: Int32
    ) -> KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        func text() -> String {
            String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }

        guard let newTopic = rd_kafka_NewTopic_new(name, partitions, Int32(replicationFactor), &errstr, errstr.count)
        else {
            return KafkaError(code: .topicCreation, message: "Topic \"\(name)\" is invalid: \(text())")
        }
        defer { rd_kafka_NewTopic_destroy(newTopic) }
        for (key, value) in configs.sorted(by: { $0.key < $1.key }) {
            let err = rd_kafka_NewTopic_set_config(newTopic, key, value)
            if err != RD_KAFKA_RESP_ERR_NO_ERROR {
                return KafkaError.rdKafka(err, fallback: .topicCreation, context: "Topic \"\(name)\" setting \(key)")
            }
        }
        let options = rd_kafka_AdminOptions_new(handle, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds, &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds, &errstr, errstr.count)
        let queue = rd_kafka_queue_new(handle)
        defer { rd_kafka_queue_destroy(queue) }

        var topics: [OpaquePointer?] = [newTopic]
        rd_kafka_CreateTopics(handle, &topics, 1, options, queue)
        // The request timeout bounds the answer; the extra second covers the local queue hop.
        guard let event = rd_kafka_queue_poll(queue, milliseconds &+ 1000) else {
            return KafkaError(code: .timedOut, message: "Creating topic \"\(name)\" timed out", isRetriable: true)
        }
        defer { rd_kafka_event_destroy(event) }
        let requestError = rd_kafka_event_error(event)
        if requestError != RD_KAFKA_RESP_ERR_NO_ERROR {
            let reason = rd_kafka_event_error_string(event).map { String(cString: $0) } ?? ""
            return KafkaError.rdKafka(
                requestError,
                fallback: .topicCreation,
                context: "Creating topic \"\(name)\" failed: \(reason)"
            )
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            return KafkaError(code: .topicCreation, message: "Creating topic \"\(name)\": unexpected answer")
        }
        var count = 0
        guard let results = rd_kafka_CreateTopics_result_topics(result, &count) else { return nil }
        for index in 0..<count {
            guard let topicResult = results[index] else { continue }
            let reason = rd_kafka_topic_result_error_string(topicResult).map { String(cString: $0) } ?? ""
            if let failure = Self.topicCreationFailure(name, rd_kafka_topic_result_error(topicResult), reason) {
                return failure
            }
        }
        return nil
    }

    /// How one topic's result counts: success, "already exists" (also success), or the error to throw.
    static func topicCreationFailure(_ name: String, _ err: rd_kafka_resp_err_t, _ reason: String) -> KafkaError? {
        if err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS { return nil }
        return KafkaError.rdKafka(
            err,
            fallback: .topicCreation,
            context: "Creating topic \"\(name)\" failed: \(reason)"
        )
    }
}
