// mcorps topics and groups against a real broker, through the real binary: topic life cycle, and
// a group's lag per partition after it consumed part of a topic.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/kafka_test_env.h"
#include "unit/mcorps_subprocess.h"

namespace mcorps::testing {
namespace {

using messagecorps::testing::CreateTopicOrFail;
using messagecorps::testing::TestBrokers;
using messagecorps::testing::UniqueName;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

class McorpsAdmin : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    ASSERT_FALSE(brokers_.empty());
  }
  RunResult Run(std::vector<std::string> args, const std::string& input = "") {
    args.push_back("-b");
    args.push_back(brokers_);
    RunOptions options;
    options.stdin_data = input;
    return RunMcorps(args, options);
  }
  std::string brokers_;
};

TEST_F(McorpsAdmin, TopicLifeCycle) {
  const std::string topic = UniqueName("mcorps-topic");
  RunResult created =
      Run({"topics", "create", topic, "-P", "3", "--config", "retention.ms=600000"});
  ASSERT_EQ(created.exit_code, 0) << Describe(created);

  RunResult list = Run({"topics", "list"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(Lines(list.out), Contains(topic));
  EXPECT_THAT(Lines(list.out), Not(Contains("__consumer_offsets")));

  RunResult described = Run({"topics", "describe", topic});
  ASSERT_EQ(described.exit_code, 0) << Describe(described);
  Json info = Json::parse(described.out);
  EXPECT_EQ(info["topic"], topic);
  EXPECT_EQ(info["partition_count"], 3);
  ASSERT_EQ(info["partitions"].size(), 3u);
  EXPECT_EQ(info["partitions"][2]["partition"], 2);
  EXPECT_GE(info["partitions"][0]["leader"].get<int>(), 0);

  RunResult again = Run({"topics", "create", topic});
  EXPECT_EQ(again.exit_code, 1) << Describe(again);
  EXPECT_THAT(again.err, HasSubstr("already exists"));
  RunResult tolerated = Run({"topics", "create", topic, "--if-not-exists", "-P", "3"});
  EXPECT_EQ(tolerated.exit_code, 0) << Describe(tolerated);

  RunResult deleted = Run({"topics", "delete", topic});
  ASSERT_EQ(deleted.exit_code, 0) << Describe(deleted);
  RunResult gone = Run({"topics", "describe", topic});
  EXPECT_EQ(gone.exit_code, 1) << Describe(gone);
  EXPECT_THAT(gone.err, HasSubstr("does not exist"));
  RunResult twice = Run({"topics", "delete", UniqueName("mcorps-never")});
  EXPECT_EQ(twice.exit_code, 1) << Describe(twice);
}

TEST_F(McorpsAdmin, GroupDescribeShowsLagPerPartition) {
  const std::string topic = UniqueName("mcorps-lag");
  CreateTopicOrFail(brokers_, topic, 2);
  RunResult produced =
      Run({"produce", "-t", topic, "--type", "protobuf.data.Image", "-p", "0", "--count", "10"});
  ASSERT_EQ(produced.exit_code, 0) << Describe(produced);
  produced =
      Run({"produce", "-t", topic, "--type", "protobuf.data.Image", "-p", "1", "--count", "5"});
  ASSERT_EQ(produced.exit_code, 0) << Describe(produced);

  // A group member reads 4 records: exactly those are committed, whatever the batch size was.
  const std::string group = UniqueName("mcorps-group");
  RunResult consumed = Run({"consume", "-t", topic, "-G", group, "-c", "4"});
  ASSERT_EQ(consumed.exit_code, 0) << Describe(consumed);
  ASSERT_EQ(Lines(consumed.out).size(), 4u);

  RunResult list = Run({"groups", "list"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(Lines(list.out), Contains(group));

  RunResult described = Run({"groups", "describe", group});
  ASSERT_EQ(described.exit_code, 0) << Describe(described);
  Json info = Json::parse(described.out);
  EXPECT_EQ(info["group"], group);
  EXPECT_EQ(info["lag"], 15 - 4);
  int64_t committed = 0, lag = 0;
  for (const Json& p : info["partitions"]) {
    EXPECT_EQ(p["topic"], topic);
    const int64_t high = p["high"];
    EXPECT_EQ(high, p["partition"] == 0 ? 10 : 5);
    const int64_t c = p["committed"].get<int64_t>() < 0 ? 0 : p["committed"].get<int64_t>();
    EXPECT_EQ(p["lag"], high - c);
    committed += c;
    lag += p["lag"].get<int64_t>();
  }
  EXPECT_EQ(committed, 4);
  EXPECT_EQ(lag, 11);

  // The group goes on from there to the end: no lag left.
  RunResult rest = Run({"consume", "-t", topic, "-G", group, "-e"});
  ASSERT_EQ(rest.exit_code, 0) << Describe(rest);
  EXPECT_EQ(Lines(rest.out).size(), 11u);
  described = Run({"groups", "describe", group});
  ASSERT_EQ(described.exit_code, 0) << Describe(described);
  EXPECT_EQ(Json::parse(described.out)["lag"], 0);
}

TEST_F(McorpsAdmin, UnknownGroupIsAnError) {
  RunResult r = Run({"groups", "describe", UniqueName("mcorps-nobody")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("not found"));
}

// Without -G, the consumer carries a group id all the same (librdkafka needs one): the library's
// default, LOG_TAG_GROUP, set here to a name only this test uses. Reading must neither join nor
// commit to that group: the broker must not know it afterwards. Only this test's group is looked at
// (other tests create groups on the same broker at the same time).
TEST_F(McorpsAdmin, ReadingWithoutAGroupCommitsNothing) {
  const std::string topic = UniqueName("mcorps-nogroup");
  CreateTopicOrFail(brokers_, topic, 1);
  ASSERT_EQ(
      Run({"produce", "-t", topic, "--type", "protobuf.data.Image", "--count", "3"}).exit_code, 0);
  const std::string group = UniqueName("mcorps-nogroup");
  RunOptions options;
  options.env["LOG_TAG_GROUP"] = group;
  RunResult consumed = RunMcorps({"consume", "-t", topic, "-e", "-b", brokers_}, options);
  ASSERT_EQ(consumed.exit_code, 0) << Describe(consumed);
  EXPECT_EQ(Lines(consumed.out).size(), 3u);

  RunResult list = Run({"groups", "list"});
  ASSERT_EQ(list.exit_code, 0) << Describe(list);
  EXPECT_THAT(Lines(list.out), Not(Contains(group))) << "reading without -G joined a group";
  RunResult described = Run({"groups", "describe", group});
  EXPECT_EQ(described.exit_code, 1) << "reading without -G committed: " << Describe(described);
  EXPECT_THAT(described.err, HasSubstr("not found"));

  // The same check sees a group that did commit: read one record with -G under that name.
  RunResult in_group = RunMcorps({"consume", "-t", topic, "-G", group, "-c", "1", "-b", brokers_});
  ASSERT_EQ(in_group.exit_code, 0) << Describe(in_group);
  described = Run({"groups", "describe", group});
  ASSERT_EQ(described.exit_code, 0) << Describe(described);
  EXPECT_EQ(Json::parse(described.out)["lag"], 2);
}

}  // namespace
}  // namespace mcorps::testing
