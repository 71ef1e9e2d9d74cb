#include "support/kafka_test_env.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace messagecorps::testing {

void CreateTopicOrFail(const std::string& brokers, const std::string& name, int partitions,
                       int replication) {
  ClientConfig config;
  config.brokers = brokers;
  auto admin = AdminClient::Create(config);
  ASSERT_TRUE(admin.ok()) << admin.status();
  absl::Status s =
      (*admin)->CreateTopic({name, partitions, replication, {}}, std::chrono::seconds(30));
  ASSERT_TRUE(s.ok()) << s;
  s = (*admin)->WaitForTopic(name, partitions, std::chrono::seconds(30));
  ASSERT_TRUE(s.ok()) << s;
}

std::unique_ptr<Producer> MakeProducer(const std::string& brokers, ProducerConfig config) {
  config.brokers = brokers;
  if (!config.envelope) config.envelope = EnvelopeSettings{"test", protobuf::common::DEVELOPMENT};
  auto producer = Producer::Create(std::move(config));
  EXPECT_TRUE(producer.ok()) << producer.status();
  return producer.ok() ? std::move(*producer) : nullptr;
}

std::unique_ptr<Consumer> MakeConsumer(const std::string& brokers, std::vector<std::string> topics,
                                       const std::string& group, ConsumerConfig config) {
  config.brokers = brokers;
  config.topics = std::move(topics);
  config.group_id = group;
  config.start = StartOffset::kEarliest;
  config.properties.emplace("session.timeout.ms", "6000");
  config.properties.emplace("heartbeat.interval.ms", "500");
  // MESSAGECORPS_TEST_KAFKA_DEBUG=cgrp (etc.) turns on librdkafka's debug contexts when a test
  // needs its protocol story; they go to the default logger, lowered to debug for them.
  if (const char* debug = std::getenv("MESSAGECORPS_TEST_KAFKA_DEBUG"); debug && *debug) {
    config.properties.emplace("debug", debug);
    spdlog::set_level(spdlog::level::debug);
  }
  auto consumer = Consumer::Create(std::move(config));
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  return consumer.ok() ? std::move(*consumer) : nullptr;
}

std::vector<ReceivedMessage> PollUntil(Consumer& consumer, size_t want,
                                       std::chrono::milliseconds timeout) {
  std::vector<ReceivedMessage> got;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (got.size() < want && std::chrono::steady_clock::now() < deadline) {
    auto batch = consumer.Poll(std::chrono::milliseconds(200));
    if (!batch.ok()) {
      ADD_FAILURE() << "poll: " << batch.status();
      break;
    }
    for (auto& m : *batch) got.push_back(std::move(m));
  }
  return got;
}

std::vector<ReceivedMessage> ReadToEnd(const std::string& brokers, const std::string& topic,
                                       int partitions, const TypeRegistry& registry,
                                       const std::string& isolation,
                                       std::chrono::milliseconds timeout) {
  ConsumerConfig config;
  config.brokers = brokers;
  config.registry = &registry;
  config.properties["isolation.level"] = isolation;
  for (int p = 0; p < partitions; ++p) config.assignment.push_back({topic, p, kOffsetBeginning});
  auto consumer = Consumer::Create(config);
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  std::vector<ReceivedMessage> out;
  if (!consumer.ok()) return out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!(*consumer)->ReachedEnd() && std::chrono::steady_clock::now() < deadline) {
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    for (auto& m : *batch) out.push_back(std::move(m));
  }
  EXPECT_TRUE((*consumer)->ReachedEnd()) << "not read to the end of " << topic;
  return out;
}

}  // namespace messagecorps::testing
