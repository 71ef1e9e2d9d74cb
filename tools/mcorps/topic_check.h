// mcorps produce: what to do with a topic that does not exist, following the cluster.
//
// The original MessageCorps relied on the broker creating topics on first use. So: when the
// cluster auto-creates topics (broker configuration auto.create.topics.enable=true, Kafka's
// default), `mcorps produce` follows it and says on stderr that the topic was created; where it
// does not, or when that cannot be told (no DescribeConfigs, e.g. the embedded broker), it refuses
// before sending anything. --require-existing-topic refuses in every case (the strict behaviour).
#pragma once

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "messagecorps/admin.h"

namespace mcorps {

struct TopicCheck {
  bool exists = false;       // the topic exists now
  bool auto_create = false;  // it does not, and the cluster creates it on the first record
};

// kNotFound (message naming the topic, the reason and `mcorps topics create`) when the topic is
// missing and will not be created; other codes when the brokers cannot be asked.
absl::StatusOr<TopicCheck> CheckTopicForProduce(messagecorps::AdminClient& admin,
                                                const std::string& topic, bool require_existing,
                                                std::chrono::milliseconds timeout);

// After the records were delivered to an auto-created topic: the stderr line saying it was
// created, with its partition count as the cluster made it.
std::string DescribeCreatedTopic(messagecorps::AdminClient& admin, const std::string& topic,
                                 std::chrono::milliseconds timeout);

}  // namespace mcorps
