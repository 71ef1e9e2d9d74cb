// mcorps-predict --exactly-once on a real Kafka, killed mid-stream: a capture publishes 200 frames;
// predict (exactly-once, --no-skip) is SIGKILLed as soon as its first predictions are in the log,
// inside its first transaction, and started again with the same transactional id. The
// read_committed Predictions then hold exactly one prediction per frame — none missing, none twice
// (by the frame's source partition and offset) — although the killed process had written
// predictions it never committed (a read_uncommitted reader may see those). Bad input: an empty
// --transactional-id is refused at parse time, naming the option.
#include <gtest/gtest.h>
#include <signal.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "messagecorps/consumer.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/type_registry.h"
#include "services_support.h"
#include "support/kafka_test_env.h"

namespace messagecorps::testing {
namespace {

using namespace std::chrono_literals;
using protobuf::predictions::Prediction;

// (partition, offset) of each frame a prediction of `topic` answers -> how many predictions, as
// `isolation` sees the topic (every partition, to its end).
std::map<std::pair<int64_t, int64_t>, int> Answered(const std::string& brokers,
                                                    const std::string& topic, int partitions,
                                                    const char* isolation) {
  TypeRegistry registry;
  EXPECT_TRUE(registry.Bind(topic, Prediction::descriptor()).ok());
  std::map<std::pair<int64_t, int64_t>, int> answered;
  for (const ReceivedMessage& m : ReadToEnd(brokers, topic, partitions, registry, isolation)) {
    const auto* p = m.As<Prediction>();
    ++answered[p ? std::pair{p->source_partition(), p->source_offset()} : std::pair{-1L, -1L}];
  }
  return answered;
}

int Total(const std::map<std::pair<int64_t, int64_t>, int>& counts) {
  int n = 0;
  for (const auto& [frame, c] : counts) n += c;
  return n;
}

TEST(ServicesExactlyOnce, PredictKilledMidStreamAnswersEveryFrameExactlyOnce) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string video = UniqueName("VideoStream");
  const std::string predictions = UniqueName("Predictions");
  constexpr int kPartitions = 4;
  constexpr int kFrames = 200;
  for (const auto& [name, partitions] :
       {std::pair{video, kPartitions}, {predictions, kPartitions}, {video + ".DLQ", 1}}) {
    CreateTopicOrFail(brokers, name, partitions);
  }
  TempDir dir("mcorps-eos-");
  // A backlog first: the predictor's first transactions then hold many frames each, so the kill
  // below lands inside one.
  ServiceProcess capture("capture", MCORPS_CAPTURE_BIN,
                         {"--brokers", brokers, "--topic", video, "--synthetic", "--resolution",
                          "640x480", "--fps", "100", "--count", std::to_string(kFrames)},
                         dir.path());
  ASSERT_TRUE(capture.Wait(60s)) << capture.Log();
  ASSERT_EQ(capture.exit_code(), 0) << capture.Log();
  const std::string group = UniqueName("predict");
  const std::string id = UniqueName("predict-eos");
  const std::vector<std::string> args = {"--brokers",
                                         brokers,
                                         "--input",
                                         video,
                                         "--output",
                                         predictions,
                                         "--group",
                                         group,
                                         "--earliest",
                                         "--no-skip",
                                         "--detector",
                                         "lbp-face",
                                         "--exactly-once",
                                         "--transactional-id",
                                         id};
  // Killed as soon as its first predictions are in the log, before their transaction commits.
  std::unique_ptr<Consumer> watcher;
  TypeRegistry registry;  // outlives the watcher
  {
    ASSERT_TRUE(registry.Bind(predictions, Prediction::descriptor()).ok());
    ConsumerConfig config;
    config.brokers = brokers;
    config.registry = &registry;
    config.properties["isolation.level"] = "read_uncommitted";
    for (int p = 0; p < kPartitions; ++p)
      config.assignment.push_back({predictions, p, kOffsetBeginning});
    auto c = Consumer::Create(config);
    ASSERT_TRUE(c.ok()) << c.status();
    watcher = std::move(*c);
  }
  auto first = std::make_unique<ServiceProcess>("predict-1", MCORPS_PREDICT_BIN, args, dir.path());
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto batch = watcher->Poll(50ms);
        return batch.ok() && !batch->empty();
      },
      120s))
      << first->Log();
  first->Signal(SIGKILL);
  ASSERT_TRUE(first->Wait(10s));
  watcher.reset();
  EXPECT_NE(first->Log().find("exactly-once: " + id), std::string::npos) << first->Log();
  const int committed_at_kill =
      Total(Answered(brokers, predictions, kPartitions, "read_committed"));
  ServiceProcess second("predict-2", MCORPS_PREDICT_BIN, args, dir.path());
  ASSERT_TRUE(WaitUntil(
      [&] {
        return Total(Answered(brokers, predictions, kPartitions, "read_committed")) >= kFrames;
      },
      120s))
      << second.Log();
  std::this_thread::sleep_for(2s);  // anything more it would (wrongly) write
  second.Terminate();
  ASSERT_TRUE(second.Wait(30s));
  EXPECT_EQ(second.exit_code(), 0) << second.Log();
  auto summary = nlohmann::json::parse(second.LastLine());
  EXPECT_GT(summary["commits"].get<int64_t>(), 0) << summary.dump();
  EXPECT_EQ(summary["dead_lettered"].get<int64_t>(), 0) << summary.dump();

  const auto committed = Answered(brokers, predictions, kPartitions, "read_committed");
  int twice = 0;
  for (const auto& [frame, n] : committed) {
    EXPECT_GE(frame.first, 0) << "an undecodable prediction";
    if (n > 1) ++twice;
  }
  EXPECT_EQ(twice, 0) << "frames predicted more than once";
  EXPECT_EQ(static_cast<int>(committed.size()), kFrames) << "frames without a prediction";
  EXPECT_EQ(Total(committed), kFrames);
  // What the killed process wrote but never committed stays in the log, unseen above: the kill
  // did land inside a transaction.
  const int in_log = Total(Answered(brokers, predictions, kPartitions, "read_uncommitted"));
  EXPECT_GT(in_log, kFrames) << "the kill landed between transactions";
  std::cout << "predictions: " << committed_at_kill << " committed when killed; "
            << Total(committed) << " committed in the end, " << in_log << " in the log\n";
}

TEST(ServicesExactlyOnce, AnEmptyTransactionalIdIsRefusedAtParseTime) {
  TempDir dir("mcorps-eos-");
  ServiceProcess predict("predict", MCORPS_PREDICT_BIN,
                         {"--brokers", "127.0.0.1:1", "--exactly-once", "--transactional-id", ""},
                         dir.path());
  ASSERT_TRUE(predict.Wait(30s));
  EXPECT_NE(predict.exit_code(), 0);
  EXPECT_NE(predict.Log().find("--transactional-id must not be empty"), std::string::npos)
      << predict.Log();
}

}  // namespace
}  // namespace messagecorps::testing
