// The library API mcorps reads with: ConsumerConfig::assignment (assign() instead of a group: start
// offsets, no commits, ReachedEnd) and OffsetsForTimes, on a real broker.
#include <gtest/gtest.h>

#include <thread>

#include "messagecorps/offsets.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/type_registry.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using testing::CreateTopicOrFail;
using testing::MakeProducer;
using testing::TestBrokers;
using testing::UniqueName;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Sends frames [first, first + n) to partition 0 of `topic`.
void SendFrames(const std::string& brokers, const std::string& topic, int first, int n) {
  auto producer = MakeProducer(brokers);
  ASSERT_NE(producer, nullptr);
  Topic<protobuf::data::Image> images(topic);
  for (int i = first; i < first + n; ++i) {
    protobuf::data::Image image;
    image.set_frame(i);
    SendOptions options;
    options.partition = 0;
    ASSERT_TRUE(producer->Send(images, image, options).ok());
  }
  ASSERT_TRUE(producer->Flush(30s).ok());
}

// Reads until the end of every assigned partition: the frames seen.
std::vector<int64_t> ReadToEnd(const std::string& brokers, std::vector<TopicPartition> assignment) {
  ConsumerConfig config;
  config.brokers = brokers;
  config.assignment = std::move(assignment);
  TypeRegistry registry;
  EXPECT_TRUE(registry.Bind(config.assignment[0].topic, "protobuf.data.Image").ok());
  config.registry = &registry;
  auto consumer = Consumer::Create(config);
  EXPECT_TRUE(consumer.ok()) << consumer.status();
  std::vector<int64_t> frames;
  if (!consumer.ok()) return frames;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!(*consumer)->ReachedEnd() && std::chrono::steady_clock::now() < deadline) {
    auto batch = (*consumer)->Poll(100ms);
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    for (const auto& m : *batch) {
      EXPECT_TRUE(m.decode_status().ok()) << m.decode_status();
      if (const auto* image = m.As<protobuf::data::Image>()) frames.push_back(image->frame());
      // Never a group member: nothing to commit to.
      EXPECT_EQ((*consumer)->Commit(m).code(), absl::StatusCode::kFailedPrecondition);
    }
  }
  EXPECT_TRUE((*consumer)->ReachedEnd());
  EXPECT_EQ((*consumer)->CommitAll().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE((*consumer)->Close(10s).ok());
  return frames;
}

TEST(ConsumerAssignment, ReadsFromTheGivenOffsetsWithoutAGroup) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic = UniqueName("assigned");
  CreateTopicOrFail(brokers, topic, 2);
  SendFrames(brokers, topic, 0, 10);

  const std::vector<int64_t> all = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  EXPECT_EQ(ReadToEnd(brokers, {{topic, 0, kOffsetBeginning}, {topic, 1, kOffsetBeginning}}), all);
  EXPECT_EQ(ReadToEnd(brokers, {{topic, 0, 7}, {topic, 1, kOffsetBeginning}}),
            (std::vector<int64_t>{7, 8, 9}));
  EXPECT_EQ(ReadToEnd(brokers, {{topic, 0, OffsetFromEnd(2)}}), (std::vector<int64_t>{8, 9}));
  EXPECT_TRUE(ReadToEnd(brokers, {{topic, 0, kOffsetEnd}, {topic, 1, kOffsetEnd}}).empty());
}

TEST(ConsumerAssignment, RejectsBadAssignments) {
  ConsumerConfig config;
  config.brokers = "127.0.0.1:1";
  config.assignment = {{"t", -1, kOffsetBeginning}};
  EXPECT_EQ(Consumer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.assignment = {{"t", 0, -5}};
  EXPECT_EQ(Consumer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
  config.assignment = {{"t", 0, kOffsetBeginning}};
  config.topics = {"other"};
  EXPECT_EQ(Consumer::Create(config).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(OffsetsForTimes, FindsTheFirstRecordAtOrAfterATime) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic = UniqueName("by-time");
  CreateTopicOrFail(brokers, topic, 1);
  SendFrames(brokers, topic, 0, 3);
  std::this_thread::sleep_for(50ms);
  const int64_t middle = NowMs();
  std::this_thread::sleep_for(50ms);
  SendFrames(brokers, topic, 3, 2);

  ClientConfig config;
  config.brokers = brokers;
  auto offsets = OffsetsForTimes(config, {{topic, 0, middle}}, 10s);
  ASSERT_TRUE(offsets.ok()) << offsets.status();
  ASSERT_EQ(offsets->size(), 1u);
  EXPECT_EQ((*offsets)[0].offset, 3);
  EXPECT_EQ(ReadToEnd(brokers, *offsets), (std::vector<int64_t>{3, 4}));

  auto future = OffsetsForTimes(config, {{topic, 0, NowMs() + 3600000}}, 10s);
  ASSERT_TRUE(future.ok()) << future.status();
  EXPECT_EQ((*future)[0].offset, kOffsetEnd);
  auto past = OffsetsForTimes(config, {{topic, 0, 0}}, 10s);
  ASSERT_TRUE(past.ok()) << past.status();
  EXPECT_EQ((*past)[0].offset, 0);

  EXPECT_EQ(OffsetsForTimes(config, {}, 1s).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(OffsetsForTimes(config, {{topic, 0, -1}}, 1s).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace messagecorps
