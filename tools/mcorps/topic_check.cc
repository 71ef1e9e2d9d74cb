#include "topic_check.h"

#include "absl/strings/str_cat.h"

namespace mcorps {

absl::StatusOr<TopicCheck> CheckTopicForProduce(messagecorps::AdminClient& admin,
                                                const std::string& topic, bool require_existing,
                                                std::chrono::milliseconds timeout) {
  auto info = admin.DescribeTopic(topic, timeout);
  if (info.ok()) return TopicCheck{.exists = true, .auto_create = false};
  if (info.status().code() != absl::StatusCode::kNotFound) return info.status();
  const std::string create = absl::StrCat("(create it with `mcorps topics create ", topic, "`)");
  if (require_existing) {
    return absl::NotFoundError(absl::StrCat(
        "topic ", topic, " does not exist and --require-existing-topic is given ", create));
  }
  auto enabled = admin.BrokerConfig("auto.create.topics.enable", timeout);
  if (!enabled.ok()) {
    return absl::NotFoundError(absl::StrCat("topic ", topic,
                                            " does not exist and whether the cluster creates "
                                            "topics on first use cannot be told (",
                                            enabled.status().message(), ") ", create));
  }
  if (*enabled != "true") {
    return absl::NotFoundError(absl::StrCat("topic ", topic,
                                            " does not exist and the cluster does not create "
                                            "topics on first use (auto.create.topics.enable=",
                                            *enabled, ") ", create));
  }
  return TopicCheck{.exists = false, .auto_create = true};
}

std::string DescribeCreatedTopic(messagecorps::AdminClient& admin, const std::string& topic,
                                 std::chrono::milliseconds timeout) {
  auto info = admin.DescribeTopic(topic, timeout);
  std::string partitions = info.ok()
                               ? absl::StrCat(info->partitions.size(), " partition",
                                              info->partitions.size() == 1 ? "" : "s")
                               : absl::StrCat("partitions unknown: ", info.status().message());
  return absl::StrCat("mcorps produce: topic ", topic,
                      " did not exist: the cluster created it on first use "
                      "(auto.create.topics.enable=true; ",
                      partitions,
                      ", the broker's num.partitions); --require-existing-topic "
                      "refuses instead");
}

}  // namespace mcorps
