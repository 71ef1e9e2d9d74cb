#include "common/topics.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace messagecorps::services {

absl::StatusOr<TopicSpec> ParseTopicSpec(const std::string& text, int default_partitions) {
  TopicSpec spec;
  auto colon = text.rfind(':');
  spec.name = text.substr(0, colon);
  spec.partitions = default_partitions;
  if (colon != std::string::npos) {
    int n = 0;
    if (!absl::SimpleAtoi(text.substr(colon + 1), &n) || n < 1 || n > 10000) {
      return absl::InvalidArgumentError(
          absl::StrCat("topic '", text, "': partitions must be a number in 1..10000"));
    }
    spec.partitions = n;
  }
  if (spec.name.empty() || spec.name.size() > 249) {
    return absl::InvalidArgumentError(absl::StrCat("topic '", text, "': bad name"));
  }
  for (char c : spec.name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          absl::StrCat("topic '", spec.name, "': Kafka names use [a-zA-Z0-9._-] only"));
    }
  }
  return spec;
}

absl::StatusOr<std::vector<TopicSpec>> ParseTopicSpecs(const std::vector<std::string>& texts,
                                                       std::vector<TopicSpec> defaults) {
  if (texts.empty()) return defaults;
  std::vector<TopicSpec> specs;
  for (const std::string& text : texts) {
    auto spec = ParseTopicSpec(text);
    if (!spec.ok()) return spec.status();
    specs.push_back(*std::move(spec));
  }
  return specs;
}

TopicSpec MakeTopicSpec(std::string name, int partitions) {
  TopicSpec spec;
  spec.name = std::move(name);
  spec.partitions = partitions;
  return spec;
}

std::vector<TopicSpec> DefaultTopics() {
  return {MakeTopicSpec("VideoStream", 8), MakeTopicSpec("Predictions", 8),
          MakeTopicSpec("VideoStream.DLQ", 1), MakeTopicSpec("Predictions.DLQ", 1)};
}

void EnsureTopics(const ClientConfig& client, const std::vector<TopicSpec>& topics) {
  ClientConfig config = client;
  std::shared_ptr<spdlog::logger> logger = config.logger ? config.logger : spdlog::default_logger();
  // The embedded broker answers admin requests with errors; keep librdkafka quiet about it.
  config.properties.try_emplace("log_level", std::string(1, '2'));
  auto admin = AdminClient::Create(config);
  if (!admin.ok()) {
    logger->debug("topics not created (no admin client: {})", admin.status().ToString());
    return;
  }
  // Metadata works on every broker (the embedded one included): create only what is missing.
  auto existing = (*admin)->ListTopics(std::chrono::seconds(5));
  for (const TopicSpec& spec : topics) {
    if (existing.ok() &&
        std::find(existing->begin(), existing->end(), spec.name) != existing->end()) {
      continue;
    }
    absl::Status s = (*admin)->CreateTopic(spec, std::chrono::seconds(5), /*ignore_existing=*/true);
    if (!s.ok()) {
      logger->debug("topic {} not created ({}); relying on auto-creation", spec.name, s.ToString());
      return;  // the broker has no Admin API: do not wait 5 s per topic
    }
  }
}

void ApplyLiveConsumerDefaults(std::map<std::string, std::string>& consumer_properties,
                               const ClientConfig& client) {
  const std::map<std::string, std::string> defaults = {{"session.timeout.ms", "6000"},
                                                       {"heartbeat.interval.ms", "1000"},
                                                       {"fetch.wait.max.ms", "10"}};
  for (const auto& [key, value] : defaults) {
    if (!client.properties.count(key)) consumer_properties.try_emplace(key, value);
  }
}

}  // namespace messagecorps::services
