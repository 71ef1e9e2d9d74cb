// A handler's output that the broker refuses sends its record to the dead-letter topic with reason
// "publish" (and the output's error), on a real Apache Kafka; the record is counted dead-lettered,
// not handled, and its offset is committed (it is in the DLQ, so it is not lost).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "messagecorps/cloud_events.h"
#include "messagecorps/dead_letter.h"
#include "messagecorps/router.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using protobuf::predictions::Prediction;
using testing::CreateTopicOrFail;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::TestBrokers;
using testing::UniqueName;

TEST(RouterPublishFailure, ARefusedOutputDeadLettersItsRecordWithReasonPublish) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string frames = UniqueName("frames");
  CreateTopicOrFail(brokers, frames, 1);
  CreateTopicOrFail(brokers, frames + ".DLQ", 1);
  auto producer = MakeProducer(brokers);
  ASSERT_NE(producer, nullptr);
  Image image;
  image.set_frame(7);
  SendOptions keyed;
  keyed.key = "frame-7";
  ASSERT_TRUE(producer->SendSync(Topic<Image>(frames), image, keyed).ok());

  RouterConfig config;
  config.client.brokers = brokers;
  config.consumer.group_id = UniqueName("router");
  config.consumer.start = StartOffset::kEarliest;
  config.consumer_properties["session.timeout.ms"] = "6000";
  config.consumer_properties["heartbeat.interval.ms"] = "500";
  config.producer_properties["message.timeout.ms"] = "10000";
  config.poll_timeout = 50ms;
  Router router(config);
  const Topic<Prediction> refused("no such topic!");  // an invalid name: the broker refuses it
  ASSERT_TRUE(router
                  .Handle("predict", Topic<Image>(frames),
                          [&](const Image& in, const ReceivedMessage&) -> HandlerResult {
                            Prediction p;
                            p.set_frame(in.frame());
                            std::vector<Outgoing> out;
                            out.push_back(Outgoing::Of(refused, std::move(p)));
                            return out;
                          })
                  .ok());
  absl::Status run_status;
  {
    std::jthread thread([&](std::stop_token stop) { run_status = router.Run(stop); });
    // 45 s: joining the group and the refused delivery take seconds; more means a hang.
    const auto deadline = std::chrono::steady_clock::now() + 45s;
    while ((router.Stats().dead_lettered < 1 || router.Stats().commits < 1) &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    router.Stop();
  }
  ASSERT_TRUE(run_status.ok()) << run_status;
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.received, 1u);
  EXPECT_EQ(stats.handled, 0u);
  EXPECT_EQ(stats.dead_lettered, 1u);
  EXPECT_EQ(stats.published, 0u);
  EXPECT_GE(stats.commits, 1u);

  auto reader = MakeConsumer(brokers, {frames + ".DLQ"}, UniqueName("dlq"));
  ASSERT_NE(reader, nullptr);
  auto dead = PollUntil(*reader, 1, 30s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header(header::kDlqReason).value_or(""), dead_letter_reason::kPublish);
  EXPECT_NE(dead[0].header(header::kDlqError).value_or("").find("output to no such topic!"),
            std::string_view::npos)
      << dead[0].header(header::kDlqError).value_or("");
  EXPECT_EQ(dead[0].key().value_or(""), "frame-7");
  ASSERT_NE(dead[0].As<Image>(), nullptr) << dead[0].decode_status();  // the original record
  EXPECT_EQ(dead[0].As<Image>()->frame(), 7);
}

}  // namespace
}  // namespace messagecorps
