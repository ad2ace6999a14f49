import CRdKafka
import Logging
import Synchronization

/// Owns one librdkafka client handle (`rd_kafka_t`) and the context its callbacks use.
///
/// Ownership: `handle` is created in `init` and destroyed exactly once, in `deinit` (after the topic handles
/// it cached). The context is retained for the C side in `init` and released after `rd_kafka_destroy`, when no
/// callback can run any more. Whoever drops the last reference runs `deinit`, so producers and consumers make
/// sure that is their poll thread (never the cooperative pool: destroying joins librdkafka's threads).
///
/// `@unchecked Sendable`: the stored pointer never changes and librdkafka's API is thread-safe; the topic
/// cache is behind a `Mutex`.
final class RDKafkaClient: @unchecked Sendable {
    let handle: OpaquePointer
    let context: RDKafkaClientContext
    private let contextReference: Unmanaged<RDKafkaClientContext>
    private let topics = Mutex(TopicCache())

    /// Topic handles by name, at most ``capacity``: names come from jobs (`reply_to`), so the cache must not grow
    /// without bound. The oldest handle is destroyed first; librdkafka keeps its own reference for records still
    /// queued for it.
    private struct TopicCache {
        static let capacity = 1024
        var handles: [String: RDKafkaTopicHandle] = [:]
        var order: [String] = []
    }

    /// Creates a client.
    /// - Parameters:
    ///   - type: Producer or consumer (admin clients are producers).
    ///   - properties: librdkafka properties, applied in order.
    ///   - context: What the callbacks use.
    ///   - configure: Sets client-specific callbacks on the configuration before the client is created.
    init(
        type: rd_kafka_type_t,
        properties: [(String, String)],
        context: RDKafkaClientContext,
        configure: (OpaquePointer) -> Void = { _ in }
    ) throws(KafkaError) {
        try LibRdKafka.checkMinimumVersion()
        let conf = try RDKafkaConfig.make(properties)
        configure(conf)
        let reference = Unmanaged.passRetained(context)
        rd_kafka_conf_set_opaque(conf, reference.toOpaque())
        rd_kafka_conf_set_log_cb(conf, RDKafkaCallbacks.log)
        rd_kafka_conf_set_error_cb(conf, RDKafkaCallbacks.error)

        var errstr = [CChar](repeating: 0, count: 512)
        guard let handle = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            // On failure the configuration is still ours.
            rd_kafka_conf_destroy(conf)
            reference.release()
            let text = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(
                code: .clientCreation,
                message: "librdkafka refused the configuration: \(context.scrub(text))"
            )
        }
        self.handle = handle
        self.context = context
        self.contextReference = reference
    }

    deinit {
        let cached = topics.withLock { topics in
            defer { topics = TopicCache() }
            return Array(topics.handles.values)
        }
        for topic in cached { rd_kafka_topic_destroy(topic.pointer) }
        rd_kafka_destroy(handle)
        contextReference.release()
    }

    /// The client's name as librdkafka made it (`client.id#producer-1`).
    var name: String { String(cString: rd_kafka_name(handle)) }

    /// A cached topic handle (`rd_kafka_topic_new` once per topic name while it stays cached), destroyed when it
    /// leaves the cache or in `deinit`.
    ///
    /// - Important: The pointer is valid until the next call of this method made after a new name (it may evict
    ///   the handle): callers serialise their calls and use the pointer before the next one (the producer calls it
    ///   under its lock).
    func topic(_ name: String) throws(KafkaError) -> OpaquePointer {
        try topics.withLock { cache throws(KafkaError) -> OpaquePointer in
            if let cached = cache.handles[name] { return cached.pointer }
            guard let pointer = rd_kafka_topic_new(handle, name, nil) else {
                throw KafkaError.rdKafka(rd_kafka_last_error(), fallback: .delivery, context: "Topic \"\(name)\"")
            }
            if cache.order.count >= TopicCache.capacity {
                let oldest = cache.order.removeFirst()
                if let evicted = cache.handles.removeValue(forKey: oldest) { rd_kafka_topic_destroy(evicted.pointer) }
            }
            cache.handles[name] = RDKafkaTopicHandle(pointer: pointer)
            cache.order.append(name)
            return pointer
        }
    }

    /// How many topic handles are cached (for tests).
    var cachedTopicCount: Int { topics.withLock { $0.handles.count } }
}
