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

// A TopicSpec with the broker's default replication and config.
TopicSpec MakeTopicSpec(std::string name, int partitions);

// The example system's topics: VideoStream:8, Predictions:8, VideoStream.DLQ:1, Predictions.DLQ:1.
std::vector<TopicSpec> DefaultTopics();

// Creates the topics that do not exist yet through the Admin API (real Kafka). On a broker
// without it (the embedded one) this logs at debug level and returns: there, mcorps-broker
// pre-creates them and unknown topics are auto-created. Never fails the service.
void EnsureTopics(const std::string& brokers, const std::vector<TopicSpec>& topics,
                  const std::shared_ptr<spdlog::logger>& logger);

// Who a service's messages say they come from: $LOG_TAG_SERVICE (else `service`) and
// $ENVIRONMENT (else DEVELOPMENT), as the original's envelope. kInvalidArgument for a bad
// ENVIRONMENT.
absl::StatusOr<EnvelopeSettings> ServiceEnvelope(const std::string& service);

// Consumer settings suited to live video (short session timeout so a stopped instance's
// partitions move within ~6 s; short fetch waits for low latency), into the consumer's
// properties, except those the user set in `client` (-X), which win.
void ApplyLiveConsumerDefaults(std::map<std::string, std::string>& consumer_properties,
                               const ClientConfig& client);

}  // namespace messagecorps::services
