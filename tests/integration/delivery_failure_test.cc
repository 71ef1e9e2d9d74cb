// A producer whose broker cannot be reached reports every record as failed, with a clear error,
// within message.timeout.ms — never silently, never hanging. No broker needed (127.0.0.1:1).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "messagecorps/error.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "messagecorps/seed_topics.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using Clock = std::chrono::steady_clock;

ProducerConfig Unreachable() {
  ProducerConfig config;
  config.brokers = "127.0.0.1:1";  // nothing listens on port 1
  config.envelope = EnvelopeSettings{"test", protobuf::common::DEVELOPMENT};
  config.properties["message.timeout.ms"] = "3000";
  config.close_timeout = 2s;
  return config;
}

TEST(DeliveryFailure, UnreachableBrokerFailsTheDeliveryWithAClearErrorWithinTheTimeout) {
  auto metrics = std::make_shared<Metrics>();
  ProducerConfig config = Unreachable();
  config.metrics = metrics;
  std::mutex mu;
  std::vector<DeliveryReport> reports;
  config.on_delivery = [&](const DeliveryReport& r) {
    std::lock_guard lock(mu);
    reports.push_back(r);
  };
  auto producer = Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.status();  // Create does not wait for the broker
  Topic<Image> topic("VideoStream");
  Image image;
  image.set_frame(1);

  const auto start = Clock::now();
  // Synchronous: the error comes back as the result.
  auto sync = (*producer)->SendSync(topic, image, {}, 10s);
  const auto sync_took = Clock::now() - start;
  ASSERT_FALSE(sync.ok());
  EXPECT_EQ(sync.status().code(), absl::StatusCode::kDeadlineExceeded) << sync.status();
  EXPECT_NE(KafkaErrorCode(sync.status()), 0) << "carries librdkafka's code";
  EXPECT_TRUE(IsRetriable(sync.status()));
  EXPECT_NE(sync.status().message().find("VideoStream"), std::string_view::npos) << sync.status();
  EXPECT_NE(sync.status().message().find("timed out"), std::string_view::npos) << sync.status();
  // The failure comes from message.timeout.ms (3 s), not from an immediate refusal: well after
  // 2.5 s; and not from SendSync's own 10 s: before 8 s (3 s + librdkafka's once-a-second timeout
  // scan + 4 s of scheduling on a loaded machine).
  EXPECT_GE(sync_took, 2500ms);
  EXPECT_LT(sync_took, 8s);

  // Asynchronous: through the future, and through the producer-wide callback.
  auto future = (*producer)->SendAsync(topic, image);
  ASSERT_TRUE((*producer)->Send(topic, image).ok());
  ASSERT_EQ(future.wait_for(8s), std::future_status::ready);  // 3 s + slack, as above
  DeliveryReport report = future.get();
  EXPECT_FALSE(report.status.ok());
  EXPECT_EQ(report.offset, -1);
  EXPECT_EQ(report.topic, "VideoStream");
  EXPECT_FALSE(report.uuid.empty());
  EXPECT_FALSE(report.possibly_persisted) << "never sent: certainly not written";
  const auto deadline = Clock::now() + 8s;
  while (Clock::now() < deadline) {
    {
      std::lock_guard lock(mu);
      if (!reports.empty()) break;
    }
    std::this_thread::sleep_for(20ms);
  }
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(reports.size(), 1u);
    EXPECT_FALSE(reports[0].status.ok());
    EXPECT_EQ(reports[0].uuid, image._message_data().uuid());
  }
  EXPECT_EQ((*producer)->Outstanding(), 0);
  EXPECT_EQ(metrics->Get(Counter::kDeliveryFailed), 3u);
  EXPECT_EQ(metrics->Get(Counter::kDelivered), 0u);
  EXPECT_GT(metrics->Get(Counter::kClientErrors), 0u) << "the unreachable broker is reported";
}

TEST(DeliveryFailure, ClosingWithUndeliveredRecordsReturnsWithinCloseTimeoutAndReportsThem) {
  ProducerConfig config = Unreachable();
  config.properties["message.timeout.ms"] = "60000";  // the close timeout must win
  std::atomic<int> failed{0};
  config.on_delivery = [&](const DeliveryReport& r) {
    if (!r.status.ok()) ++failed;
  };
  auto producer = Producer::Create(config);
  ASSERT_TRUE(producer.ok()) << producer.status();
  Image image;
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE((*producer)->Send(Topic<Image>("VideoStream"), image).ok());
  auto future = (*producer)->SendAsync(Topic<Image>("VideoStream"), image);
  const auto start = Clock::now();
  producer->reset();
  const auto took = Clock::now() - start;
  // close_timeout (2 s), then the purge reports served for at most 50 x 10 ms (producer.cc); the
  // 60 s message.timeout.ms must not be waited for. +2.5 s of scheduling on a loaded machine.
  EXPECT_LT(took, 5s);
  EXPECT_EQ(failed.load(), 10);
  ASSERT_EQ(future.wait_for(0s), std::future_status::ready);
  DeliveryReport report = future.get();
  EXPECT_EQ(report.status.code(), absl::StatusCode::kDeadlineExceeded) << report.status;
}

}  // namespace
}  // namespace messagecorps
