// Topics that do not exist, as the original's clusters handled them: the broker creates them on
// first use (auto.create.topics.enable=true, Kafka's default and the test broker's). The library's
// Producer and `mcorps produce` follow the cluster; `mcorps produce --require-existing-topic` and
// the producer property allow.auto.create.topics=false keep the strict behaviour.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "messagecorps/admin.h"
#include "messagecorps/producer.h"
#include "messagecorps/seed_topics.h"
#include "support/kafka_test_env.h"
#include "unit/mcorps_subprocess.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using mcorps::testing::Describe;
using mcorps::testing::RunMcorps;
using mcorps::testing::RunOptions;
using mcorps::testing::RunResult;
using protobuf::data::Image;
using ::testing::HasSubstr;
using testing::MakeProducer;
using testing::TestBrokers;
using testing::UniqueName;

class TopicAutoCreate : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    ASSERT_FALSE(brokers_.empty());
    ClientConfig config;
    config.brokers = brokers_;
    auto admin = AdminClient::Create(config);
    ASSERT_TRUE(admin.ok()) << admin.status();
    admin_ = *std::move(admin);
  }

  bool Exists(const std::string& topic) { return admin_->DescribeTopic(topic, 10s).ok(); }

  std::string brokers_;
  std::unique_ptr<AdminClient> admin_;
};

TEST_F(TopicAutoCreate, TheTestClusterCreatesTopicsOnFirstUse) {
  auto enabled = admin_->BrokerConfig("auto.create.topics.enable", 30s);
  ASSERT_TRUE(enabled.ok()) << enabled.status();
  EXPECT_EQ(*enabled, "true");
  auto partitions = admin_->BrokerConfig("num.partitions", 30s);
  ASSERT_TRUE(partitions.ok()) << partitions.status();
  EXPECT_EQ(*partitions, "1");
  EXPECT_EQ(admin_->BrokerConfig("no.such.setting", 30s).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TopicAutoCreate, ProducerFollowsTheCluster) {
  const std::string topic = UniqueName("autocreate-lib");
  ASSERT_FALSE(Exists(topic));
  auto producer = MakeProducer(brokers_);
  ASSERT_NE(producer, nullptr);
  Image image;
  image.set_frame(1);
  auto report = producer->SendSync(Topic<Image>(topic), image);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->status.ok()) << report->status;
  EXPECT_EQ(report->offset, 0);
  EXPECT_TRUE(Exists(topic));
}

TEST_F(TopicAutoCreate, ProducerStrictPropertyRefusesAMissingTopic) {
  const std::string topic = UniqueName("autocreate-strict-lib");
  ProducerConfig config;
  config.properties["allow.auto.create.topics"] = "false";
  // How long librdkafka waits for the topic to appear before failing the record (default 30 s).
  config.properties["topic.metadata.propagation.max.ms"] = "2000";
  auto producer = MakeProducer(brokers_, config);
  ASSERT_NE(producer, nullptr);
  Image image;
  // The record fails (SendSync returns the report's status): kNotFound, UNKNOWN_TOPIC_OR_PART.
  auto report = producer->SendSync(Topic<Image>(topic), image, {}, 60s);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kNotFound) << report.status();
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("UNKNOWN_TOPIC_OR_PART"));
  EXPECT_FALSE(Exists(topic));
}

TEST_F(TopicAutoCreate, McorpsProduceFollowsTheClusterAndSaysSo) {
  const std::string topic = UniqueName("autocreate-cli");
  RunOptions input;
  input.stdin_data = "{\"frame\": \"1\"}\n{\"frame\": \"2\"}\n";
  RunResult r =
      RunMcorps({"produce", "-b", brokers_, "-t", topic, "--type", "protobuf.data.Image"}, input);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("topic " + topic + " did not exist: the cluster created it"));
  EXPECT_THAT(r.err, HasSubstr("1 partition"));
  EXPECT_THAT(r.err, HasSubstr("delivered 2"));
  EXPECT_TRUE(Exists(topic));

  // Existing now: nothing said about creation.
  RunResult again =
      RunMcorps({"produce", "-b", brokers_, "-t", topic, "--type", "protobuf.data.Image"}, input);
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_THAT(again.err, ::testing::Not(HasSubstr("created")));
}

TEST_F(TopicAutoCreate, McorpsProduceStrictFlagRefusesBeforeSending) {
  const std::string topic = UniqueName("autocreate-cli-strict");
  RunOptions input;
  input.stdin_data = "{\"frame\": \"1\"}\n";
  RunResult r = RunMcorps({"produce", "-b", brokers_, "-t", topic, "--type", "protobuf.data.Image",
                           "--require-existing-topic"},
                          input);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("topic " + topic + " does not exist"));
  EXPECT_THAT(r.err, HasSubstr("mcorps topics create " + topic));
  EXPECT_FALSE(Exists(topic));
}

}  // namespace
}  // namespace messagecorps
