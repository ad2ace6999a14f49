#ifndef GIGACHAT_WORKER_CRDKAFKA_SHIM_H
#define GIGACHAT_WORKER_CRDKAFKA_SHIM_H
// The whole of librdkafka's C API; Sources/Kafka wraps it (RDKafka* types are the C-facing layer).
#include <librdkafka/rdkafka.h>
#endif
