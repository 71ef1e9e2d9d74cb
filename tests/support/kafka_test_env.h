// Shared set-up for integration tests: a real broker, a fresh topic per test, clients built on it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "messagecorps/admin.h"
#include "messagecorps/consumer.h"
#include "messagecorps/producer.h"
#include "messagecorps/type_registry.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

namespace messagecorps::testing {

// Creates `name` with `partitions` on the test broker and waits until it is usable.
void CreateTopicOrFail(const std::string& brokers, const std::string& name, int partitions,
                       int replication = 1);

// A producer on the test broker with a fixed envelope (service "test", DEVELOPMENT).
std::unique_ptr<Producer> MakeProducer(const std::string& brokers, ProducerConfig config = {});

// A consumer of `topics` in `group`, earliest, with short session timeouts suited to tests.
std::unique_ptr<Consumer> MakeConsumer(const std::string& brokers, std::vector<std::string> topics,
                                       const std::string& group, ConsumerConfig config = {});

// Polls until `want` records arrived (or `timeout`); returns what arrived.
std::vector<ReceivedMessage> PollUntil(Consumer& consumer, size_t want,
                                       std::chrono::milliseconds timeout);

// Every record of partitions [0, partitions) of `topic`, from the beginning to the end as a reader
// with isolation.level `isolation` ("read_committed" or "read_uncommitted") sees them, decoded
// with `registry` (which must outlive the records). Fails the test when the end is not reached
// within `timeout`.
std::vector<ReceivedMessage> ReadToEnd(
    const std::string& brokers, const std::string& topic, int partitions,
    const TypeRegistry& registry, const std::string& isolation,
    std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace messagecorps::testing
