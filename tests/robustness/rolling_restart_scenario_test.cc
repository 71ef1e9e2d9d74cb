// Scenario "rolling restart" (Kafka's ducktape replication_test clean bounce and consumer_test):
// the 3 nodes are restarted one after the other (SIGTERM: controlled shutdown, then start, wait
// until it serves and every replica is back in sync) while a writer sends and a consumer group of
// two Consumers reads (auto commit after processing), and a log reader reads everything.
// Must hold: 0 lost, 0 duplicated, order kept, no failed send; no consumer stuck: the group has
// read every acked record shortly after the writer stops (redeliveries counted).
// Forms: CI one restart (the node leading partition 0: its leadership moves and comes back) at 500
// records/s, so that the CI form fits CI's time (each restart with its ISR wait takes ~60 s on a
// loaded 2-core machine); full two rounds of all 3 nodes at 2,000 records/s.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "scenario.h"
#include "support/history.h"
#include "support/history_io.h"
#include "support/kafka_test_env.h"

namespace messagecorps::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 6;
constexpr int kMembers = 2;

TEST(RollingRestart, EveryNodeRestartedInTurnLosesDuplicatesAndStallsNothing) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  struct WholeClusterAfterwards {
    ~WholeClusterAfterwards() { RestartMissingNodes(); }
  } whole;
  const int rounds = ByForm(1, 2);
  const int nodes_per_round = ByForm(1, kClusterNodes);
  const int rate = ByForm(500, 2'000);  // records per second
  const std::string topic = UniqueName("rolling");
  const std::string group = UniqueName("rolling");
  CreateReplicatedTopic(brokers, topic, kPartitions);

  History history(absl::StrCat("rolling-restart/", FormName(ScenarioForm())));
  HistoryReader reader(brokers, {{topic, kPartitions}}, history);
  ASSERT_TRUE(reader.Start().ok());

  // The consumer group: kMembers Consumers polling on their own threads.
  TypeRegistry registry = HistoryRegistry({topic});
  std::atomic<bool> stop_members{false};
  std::vector<std::jthread> members;
  for (int m = 0; m < kMembers; ++m) {
    members.emplace_back([&, m] {
      ConsumerConfig cc;
      cc.registry = &registry;
      auto consumer = MakeConsumer(brokers, {topic}, group, cc);
      if (consumer == nullptr) return;
      while (!stop_members.load()) {
        auto batch = consumer->Poll(200ms);
        if (!batch.ok()) {
          ADD_FAILURE() << "member " << m << ": " << batch.status();
          return;
        }
        const int64_t now = NowNs();
        for (const ReceivedMessage& rm : *batch) {
          const auto* h = rm.As<mcorps_test::HistoryRecord>();
          if (h != nullptr && IsEndMarker(*h)) continue;
          ReadRecord r;
          r.topic = topic;
          r.partition = rm.partition();
          r.offset = rm.offset();
          r.at_ns = now;
          r.reader = "group";
          if (h != nullptr) {
            r.writer = h->writer();
            r.seq = h->seq();
          }
          history.Read(std::move(r));
        }
      }
      EXPECT_TRUE(consumer->Close(10s).ok());
    });
  }

  auto producer = MakeProducer(brokers);
  ASSERT_NE(producer, nullptr);
  HistoryWriter writer("w", *producer, history, topic);
  std::atomic<bool> restarts_done{false};
  std::jthread restarts([&] {
    std::this_thread::sleep_for(3s);  // records flowing and the group formed first
    for (int round = 0; round < rounds; ++round) {
      for (int n = 1; n <= nodes_per_round; ++n) {
        int node = n;
        if (nodes_per_round == 1) {
          auto leader = LeaderOf(brokers, topic, 0);
          EXPECT_TRUE(leader.ok()) << leader.status();
          if (leader.ok()) node = *leader;
        }
        history.AddFault({absl::StrCat("restart node ", node), NowNs(), {}, ""});
        RestartNode(node);
        // 120 s: the restarted node replays its log and fetches what it missed (seconds); the
        // next restart must not take a second replica of a partition away.
        absl::Status isr = WaitForFullIsr(brokers, topic, 120s);
        EXPECT_TRUE(isr.ok()) << isr;
      }
    }
    std::this_thread::sleep_for(3s);  // records after the last restart too
    restarts_done = true;
  });

  const auto start = Clock::now();
  absl::Status refused;
  for (int64_t i = 0; !restarts_done.load(); ++i) {
    absl::Status s = writer.SendNext(static_cast<int32_t>(i % kPartitions));
    while (s.code() == absl::StatusCode::kResourceExhausted) {
      s = writer.SendNext(static_cast<int32_t>(i % kPartitions));
    }
    if (!s.ok()) {
      refused = s;
      break;
    }
    // Paced to `rate` per second.
    std::this_thread::sleep_until(start + std::chrono::microseconds(1'000'000 * (i + 1) / rate));
  }
  EXPECT_TRUE(refused.ok()) << refused;
  restarts.join();
  EXPECT_TRUE(producer->Flush(60s).ok());
  absl::Status drained = reader.DrainToEnd(60s);
  EXPECT_TRUE(drained.ok()) << drained;
  // No consumer stuck: 30 s after the writer stopped, the group has read every acked record (it
  // reads thousands per second; a stuck member would leave its partitions unread).
  const auto deadline = Clock::now() + 30s;
  while (Clock::now() < deadline && history.Check().readers["group"].missing > 0) {
    std::this_thread::sleep_for(500ms);
  }
  stop_members = true;
  members.clear();

  HistoryReport report = history.Check();
  History::Publish(report);
  EXPECT_EQ(report.lost, 0u) << report.Details();
  EXPECT_EQ(report.duplicated, 0u) << report.Details();
  EXPECT_EQ(report.reordered, 0u) << report.Details();
  EXPECT_EQ(report.failed + report.reports_missing + report.reports_extra, 0u)
      << report.SummaryLine();
  EXPECT_EQ(report.unknown, 0u) << report.Details();
  EXPECT_EQ(report.readers["group"].missing, 0u) << "a consumer is stuck\n" << report.Details();
  EXPECT_EQ(report.faults.size(), static_cast<size_t>(rounds * nodes_per_round));
}

}  // namespace
}  // namespace messagecorps::testing
