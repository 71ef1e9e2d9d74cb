// Internal: RAII for librdkafka handles and the shared configuration builder. Not installed; no
// public header exposes librdkafka types.
#pragma once

#include <librdkafka/rdkafka.h>

#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"

namespace messagecorps::internal {

struct RdKafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
  void operator()(rd_kafka_headers_t* h) const { rd_kafka_headers_destroy(h); }
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
  void operator()(rd_kafka_queue_t* q) const { rd_kafka_queue_destroy(q); }
  void operator()(rd_kafka_topic_partition_list_t* l) const {
    rd_kafka_topic_partition_list_destroy(l);
  }
  void operator()(rd_kafka_event_t* e) const { rd_kafka_event_destroy(e); }
};
using KafkaHandle = std::unique_ptr<rd_kafka_t, RdKafkaDeleter>;
using ConfHandle = std::unique_ptr<rd_kafka_conf_t, RdKafkaDeleter>;
using HeadersHandle = std::unique_ptr<rd_kafka_headers_t, RdKafkaDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, RdKafkaDeleter>;
using QueueHandle = std::unique_ptr<rd_kafka_queue_t, RdKafkaDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, RdKafkaDeleter>;
using EventHandle = std::unique_ptr<rd_kafka_event_t, RdKafkaDeleter>;


// Sets one property; kInvalidArgument naming it on failure.
absl::Status SetProperty(rd_kafka_conf_t* conf, const std::string& key, const std::string& value);

}  // namespace messagecorps::internal
