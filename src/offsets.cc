#include "messagecorps/offsets.h"

#include "absl/strings/str_cat.h"
#include "client_core.h"
#include "messagecorps/error.h"
#include "rdkafka_handles.h"

namespace messagecorps {

namespace {

// The client's state for its callbacks (logger); the handle must go before it.
struct OffsetsClient : internal::ClientCore {
  internal::KafkaHandle rk;
};

}  // namespace

absl::StatusOr<std::vector<TopicPartition>> OffsetsForTimes(const ClientConfig& config,
                                                            std::vector<TopicPartition> query,
                                                            std::chrono::milliseconds timeout) {
  if (query.empty()) return absl::InvalidArgumentError("offsets for times: no partitions given");
  for (const TopicPartition& p : query) {
    if (p.topic.empty() || p.partition < 0 || p.offset < 0) {
      return absl::InvalidArgumentError(absl::StrCat("offsets for times: invalid query ", p.topic,
                                                     "[", p.partition, "] at ", p.offset));
    }
  }
  OffsetsClient client;
  internal::InitCore(client, config, "offsets");
  auto conf = internal::BuildConf(config, {}, &client);
  if (!conf.ok()) return conf.status();
  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("offsets for times: ", RedactSecrets(errstr, config.properties)));
  }
  (void)conf->release();
  client.rk.reset(rk);

  internal::PartitionListHandle list(
      rd_kafka_topic_partition_list_new(static_cast<int>(query.size())));
  for (const TopicPartition& p : query) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  }
  rd_kafka_resp_err_t err =
      rd_kafka_offsets_for_times(rk, list.get(), static_cast<int>(timeout.count()));
  if (err) return KafkaError(err, "offsets for times", true);
  for (int i = 0; i < list->cnt; ++i) {
    const rd_kafka_topic_partition_t& e = list->elems[i];
    if (e.err) {
      return KafkaError(e.err, absl::StrCat("offsets for times: ", e.topic, "[", e.partition, "]"));
    }
    // The list keeps the query's order; -1 (no record that recent) is kOffsetEnd already.
    query[static_cast<size_t>(i)].offset = e.offset < 0 ? kOffsetEnd : e.offset;
  }
  return query;
}

}  // namespace messagecorps
