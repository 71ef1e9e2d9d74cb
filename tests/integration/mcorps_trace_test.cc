// mcorps trace against a real broker, through the real binary: a message that crossed two topics
// (a capture on one, a prediction derived from it on the other) is found as two hops in time order.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "messagecorps/consumer.h"
#include "messagecorps/seed_topics.h"
#include "support/kafka_test_env.h"
#include "unit/mcorps_subprocess.h"

namespace mcorps::testing {
namespace {

using messagecorps::testing::CreateTopicOrFail;
using messagecorps::testing::TestBrokers;
using messagecorps::testing::UniqueName;
using ::testing::HasSubstr;
using Json = nlohmann::json;
using namespace std::chrono_literals;

TEST(McorpsTrace, ListsTheHopsOfAMessageAcrossTwoTopics) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string frames = UniqueName("mcorps-frames");
  const std::string predictions = UniqueName("mcorps-predictions");
  CreateTopicOrFail(brokers, frames, 2);
  CreateTopicOrFail(brokers, predictions, 1);

  // Noise: other traces on both topics.
  RunOptions noise;
  noise.stdin_data = "{\"frame\": \"1\"}\n{\"frame\": \"2\"}\n";
  ASSERT_EQ(
      RunMcorps({"produce", "-b", brokers, "-t", frames, "--type", "protobuf.data.Image"}, noise)
          .exit_code,
      0);

  // Hop 1: the capture service sends a frame (trace id given in the input).
  const std::string trace = "5f0c6a1e8b3d11eea0e3f3b2c1d4e5f6";
  RunOptions capture;
  capture.stdin_data = "{\"frame\": \"3\", \"_message_data\": {\"trace_id\": \"" + trace + "\"}}\n";
  capture.env["LOG_TAG_SERVICE"] = "capture";
  RunResult sent =
      RunMcorps({"produce", "-b", brokers, "-t", frames, "--type", "protobuf.data.Image"}, capture);
  ASSERT_EQ(sent.exit_code, 0) << Describe(sent);

  // Hop 2: a prediction service derives a Prediction from it (library: inherits trace and span).
  {
    messagecorps::ConsumerConfig config;
    config.assignment = {{frames, 0, messagecorps::kOffsetBeginning},
                         {frames, 1, messagecorps::kOffsetBeginning}};
    config.brokers = brokers;
    auto consumer = messagecorps::Consumer::Create(config);
    ASSERT_TRUE(consumer.ok()) << consumer.status();
    messagecorps::ProducerConfig pc;
    pc.envelope = messagecorps::EnvelopeSettings{"predict", protobuf::common::DEVELOPMENT};
    auto producer = messagecorps::testing::MakeProducer(brokers, pc);
    ASSERT_NE(producer, nullptr);
    bool derived = false;
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (!derived && std::chrono::steady_clock::now() < deadline) {
      auto batch = (*consumer)->Poll(200ms);
      ASSERT_TRUE(batch.ok()) << batch.status();
      for (const auto& record : *batch) {
        if (record.trace().trace_id() != trace) continue;
        std::this_thread::sleep_for(20ms);  // a measurable hop latency
        protobuf::predictions::Prediction prediction;
        prediction.add_object("cat");
        prediction.set_frame(3);
        auto report =
            producer->SendSync(messagecorps::Topic<protobuf::predictions::Prediction>(predictions),
                               prediction, messagecorps::SendOptions::DerivedFrom(record));
        ASSERT_TRUE(report.ok()) << report.status();
        ASSERT_TRUE(report->status.ok()) << report->status;
        derived = true;
      }
    }
    ASSERT_TRUE(derived) << "the captured frame never arrived";
  }

  for (const std::vector<std::string>& window :
       {std::vector<std::string>{}, std::vector<std::string>{"--since", "10m"}}) {
    std::vector<std::string> args = {"trace", trace,  "-b", brokers,
                                     "-t",    frames, "-t", predictions};
    args.insert(args.end(), window.begin(), window.end());
    RunResult r = RunMcorps(args);
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    std::vector<std::string> lines = Lines(r.out);
    ASSERT_EQ(lines.size(), 2u) << Describe(r);
    Json first = Json::parse(lines[0]), second = Json::parse(lines[1]);
    EXPECT_EQ(first["hop"], 1);
    EXPECT_EQ(first["topic"], frames);
    EXPECT_EQ(first["type"], "protobuf.data.Image");
    EXPECT_EQ(first["service"], "capture");
    EXPECT_TRUE(first["latency_ms"].is_null());
    EXPECT_EQ(second["hop"], 2);
    EXPECT_EQ(second["topic"], predictions);
    EXPECT_EQ(second["type"], "protobuf.predictions.Prediction");
    EXPECT_EQ(second["service"], "predict");
    EXPECT_EQ(second["parent_span_id"], first["span_id"]);  // derived from hop 1
    // Hop 2 was sent 20 ms or more after hop 1 was read back (usually within a second); 30 s is the
    // read-back loop's deadline. A latency in the wrong unit or from the wrong clock is off by
    // orders of magnitude.
    EXPECT_GE(second["latency_ms"].get<double>(), 20.0);
    EXPECT_LT(second["latency_ms"].get<double>(), 30000.0);
    EXPECT_THAT(r.err, HasSubstr("2 hop(s)"));
  }

  RunResult table = RunMcorps(
      {"trace", trace, "-b", brokers, "-t", frames, "-t", predictions, "--format", "text"});
  ASSERT_EQ(table.exit_code, 0) << Describe(table);
  EXPECT_EQ(Lines(table.out).size(), 3u);  // heading + 2 hops
  EXPECT_THAT(table.out, HasSubstr(" ms"));

  RunResult missing = RunMcorps({"trace", std::string(32, 'e'), "-b", brokers, "-t", frames});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("no record of trace"));
}

}  // namespace
}  // namespace mcorps::testing
