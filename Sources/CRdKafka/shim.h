#ifndef GIGACHAT_WORKER_CRDKAFKA_SHIM_H
#define GIGACHAT_WORKER_CRDKAFKA_SHIM_H
// The whole of librdkafka's C API; Sources/Kafka wraps it (RDKafka* types are the C-facing layer).
#include <librdkafka/rdkafka.h>
// The in-process mock cluster, used by the unit tests (Tests/KafkaTests) so they need no broker.
#include <librdkafka/rdkafka_mock.h>

// rd_kafka_producev is variadic, which Swift cannot call; this fixed-arity helper forwards to it.
// The value and key are copied by librdkafka (RD_KAFKA_MSG_F_COPY). On success librdkafka owns `headers`
// (it may be NULL); on failure the caller still owns them and must destroy them.
static inline rd_kafka_resp_err_t gw_rd_kafka_produce(rd_kafka_t *rk, rd_kafka_topic_t *rkt, int32_t partition,
                                                      const void *key, size_t key_len,
                                                      const void *value, size_t value_len,
                                                      rd_kafka_headers_t *headers, void *msg_opaque) {
    if (headers) {
        return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                                 RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                                 RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_HEADERS(headers),
                                 RD_KAFKA_V_OPAQUE(msg_opaque), RD_KAFKA_V_END);
    }
    return rd_kafka_producev(rk, RD_KAFKA_V_RKT(rkt), RD_KAFKA_V_PARTITION(partition),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, key_len),
                             RD_KAFKA_V_VALUE((void *)value, value_len), RD_KAFKA_V_OPAQUE(msg_opaque),
                             RD_KAFKA_V_END);
}
#endif
