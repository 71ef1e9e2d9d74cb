#include "messagecorps/embedded_broker.h"

// rdkafka_mock.h needs rdkafka.h first.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <mutex>

#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"

namespace messagecorps {

struct EmbeddedBroker::Impl {
  rd_kafka_t* rk = nullptr;
  rd_kafka_mock_cluster_t* cluster = nullptr;
  std::mutex mu;  // serializes mock API calls

  ~Impl() {
    if (cluster) rd_kafka_mock_cluster_destroy(cluster);
    if (rk) rd_kafka_destroy(rk);
  }
};

absl::StatusOr<std::unique_ptr<EmbeddedBroker>> EmbeddedBroker::Start(Options options) {
  if (options.brokers < 1) {
    return absl::InvalidArgumentError("EmbeddedBroker: brokers must be >= 1");
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The handle only hosts the mock cluster; it never connects anywhere itself.
  rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr);
  auto impl = std::make_unique<Impl>();
  impl->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (impl->rk == nullptr) {
    rd_kafka_conf_destroy(conf);
    return absl::InternalError(absl::StrCat("EmbeddedBroker: rd_kafka_new: ", errstr));
  }
  impl->cluster = rd_kafka_mock_cluster_new(impl->rk, options.brokers);
  if (impl->cluster == nullptr) {
    return absl::InternalError("EmbeddedBroker: rd_kafka_mock_cluster_new failed");
  }
  std::string bootstrap = rd_kafka_mock_cluster_bootstraps(impl->cluster);
  return std::unique_ptr<EmbeddedBroker>(new EmbeddedBroker(std::move(impl), std::move(bootstrap)));
}

EmbeddedBroker::EmbeddedBroker(std::unique_ptr<Impl> impl, std::string bootstrap)
    : impl_(std::move(impl)), bootstrap_(std::move(bootstrap)) {}

EmbeddedBroker::~EmbeddedBroker() = default;

absl::Status EmbeddedBroker::CreateTopic(const std::string& topic, int partitions,
                                         int replication_factor) {
  if (topic.empty() || topic.size() > 249) {
    return absl::InvalidArgumentError(absl::StrCat("EmbeddedBroker: invalid topic name '", topic, "'"));
  }
  for (char c : topic) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("EmbeddedBroker: topic '", topic, "' has a character Kafka rejects"));
    }
  }
  if (partitions < 1 || replication_factor < 1) {
    return absl::InvalidArgumentError("EmbeddedBroker: partitions and replication factor must be >= 1");
  }
  std::lock_guard lock(impl_->mu);
  rd_kafka_resp_err_t err =
      rd_kafka_mock_topic_create(impl_->cluster, topic.c_str(), partitions, replication_factor);
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return KafkaError(err, absl::StrCat("EmbeddedBroker: create topic ", topic));
  }
  return absl::OkStatus();
}

}  // namespace messagecorps
