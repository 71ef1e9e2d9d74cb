// Topic set-up and client defaults shared by the services.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/admin.h"
#include "messagecorps/consumer.h"
#include "messagecorps/envelope.h"

namespace spdlog {
class logger;
}

namespace messagecorps::services {

// "NAME:PARTITIONS" (or just NAME, with `default_partitions`). kInvalidArgument otherwise.
absl::StatusOr<TopicSpec> ParseTopicSpec(const std::string& text, int default_partitions = 8);

// ParseTopicSpec of each; `defaults` when `texts` is empty. The first error.
absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(const std::vector<std::string>& texts,
                                                       std::vector<TopicSpec> defaults);

// A TopicSpec with the broker's default replication and config.
TopicSpec MakeTopicSpec(std::string name, int partitions);

// The example system's topics: VideoStream:8, Predictions:8, VideoStream.DLQ:1, Predictions.DLQ:1.
std::vector<TopicSpec> DefaultTopics();

// Creates the topics that do not exist yet through the Admin API (real Kafka). On a broker
// without it (the embedded one) this logs at debug level and returns: there, mcorps-broker
// pre-creates them and unknown topics are auto-created. Never fails the service.
// The admin client is built from the program's one client configuration (`client`: brokers,
// security settings, logger), like every other client.
void EnsureTopics(const ClientConfig& client, const std::vector<TopicSpec>& topics);

// Consumer settings suited to live video (short session timeout so a stopped instance's
// partitions move within ~6 s; short fetch waits for low latency), into the consumer's
// properties, except those the user set in `client` (-X), which win.
void ApplyLiveConsumerDefaults(std::map<std::string, std::string>& consumer_properties,
                               const ClientConfig& client);

}  // namespace messagecorps::services
