// Scenario "consumer churn" (librdkafka 0113, Kafka's ducktape consumer_test): 4 Router instances,
// each in its own process (router_child), copy HistoryRecords from a 6-partition topic to another
// one in one consumer group, while one instance at a time is SIGKILLed and restarted, and another
// is stopped cleanly (SIGTERM) and restarted. Six writers write one input partition each. Must
// hold: 0 lost (every acked input record is in the output); duplicates only from records a killed
// instance had processed after its group's last commit, at most one batch per kill; none from clean
// stops; order kept per writer; never two owners of a partition at once. Forms: CI 12,000 records
// over 24 s, one kill and one clean restart; full 100,000 over 120 s, a kill every 20 s and a clean
// restart 10 s after each.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "absl/strings/str_join.h"
#include "scenario.h"
#include "support/history.h"
#include "support/history_io.h"
#include "support/kafka_test_env.h"
#include "support/ownership.h"

namespace messagecorps::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 6;
constexpr int kInstances = 4;
constexpr int kMaxBatch = 100;  // router_child's Consumer max_batch: the most one kill can repeat

struct Instance {
  int index = 0;
  int generation = 0;
  std::string incarnation;
  std::string events;
  ChildProcess process;
};

class Fleet {
 public:
  Fleet(std::string brokers, std::string group, std::string input, std::string output)
      : brokers_(std::move(brokers)),
        group_(std::move(group)),
        input_(std::move(input)),
        output_(std::move(output)),
        dir_(ScenarioDir("consumer-churn")) {}

  void Start(Instance& in) {
    in.incarnation = absl::StrCat("r", in.index, ".", in.generation++);
    in.events = absl::StrCat(dir_, "/", group_, "-", in.incarnation, ".events");
    all_.push_back({in.incarnation, in.events});
    auto p = ChildProcess::Start({ROUTER_CHILD, "--brokers", brokers_, "--group", group_, "--input",
                                  input_, "--output", output_, "--incarnation", in.incarnation,
                                  "--events", in.events, "--max-batch", std::to_string(kMaxBatch)},
                                 absl::StrCat(dir_, "/", group_, "-", in.incarnation, ".log"));
    ASSERT_TRUE(p.ok()) << p.status();
    in.process = std::move(*p);
  }

  // Every incarnation's ownership events, plus `gone` (kill times).
  std::vector<OwnershipEvent> Events() const {
    std::vector<OwnershipEvent> events = gone_;
    for (const auto& [owner, path] : all_) {
      auto e = ReadOwnershipLog(path, owner);
      if (!e.ok()) {
        // An instance killed before it was assigned anything has written no file.
        if (e.status().code() != absl::StatusCode::kNotFound) ADD_FAILURE() << e.status();
        continue;
      }
      events.insert(events.end(), e->begin(), e->end());
    }
    return events;
  }
  void Gone(const std::string& owner, int64_t at) {
    gone_.push_back({owner, OwnershipEvent::kGone, -1, at});
  }
  const std::string& dir() const { return dir_; }

 private:
  std::string brokers_, group_, input_, output_, dir_;
  std::vector<std::pair<std::string, std::string>> all_;
  std::vector<OwnershipEvent> gone_;
};

// The group's committed offsets per partition of `topic` (next offset to read).
std::map<int32_t, int64_t> Committed(const std::string& brokers, const std::string& group) {
  std::map<int32_t, int64_t> out;
  ClientConfig config;
  config.brokers = brokers;
  auto admin = AdminClient::Create(config);
  if (!admin.ok()) return out;
  auto lag = (*admin)->GroupLag(group, 10s);
  if (!lag.ok()) return out;
  for (const PartitionLag& l : *lag) out[l.partition] = l.committed;
  return out;
}

TEST(ConsumerChurn, KilledRoutersLoseNothingAndRepeatOnlyWhatTheyHadNotCommitted) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const int64_t total = ByForm<int64_t>(12'000, 100'000);
  const std::chrono::milliseconds duration = ByForm(24s, 120s);
  const int rounds = ByForm(1, 5);
  const std::string input = UniqueName("churn-in");
  const std::string output = UniqueName("churn-out");
  const std::string group = UniqueName("churn");
  CreateReplicatedTopic(brokers, input, kPartitions);
  CreateReplicatedTopic(brokers, output, kPartitions);

  History history(absl::StrCat("consumer-churn/", FormName(ScenarioForm())));
  HistoryReader reader(brokers, {{output, kPartitions}}, history);
  ASSERT_TRUE(reader.Start().ok());
  Fleet fleet(brokers, group, input, output);
  std::vector<Instance> instances(kInstances);
  for (int i = 0; i < kInstances; ++i) {
    instances[i].index = i + 1;
    fleet.Start(instances[i]);
  }

  auto producer = MakeProducer(brokers);
  ASSERT_NE(producer, nullptr);
  std::vector<std::unique_ptr<HistoryWriter>> writers;
  for (int p = 0; p < kPartitions; ++p) {
    writers.push_back(
        std::make_unique<HistoryWriter>(absl::StrCat("w", p), *producer, history, input));
  }

  const auto start = Clock::now();
  int kills = 0, clean_restarts = 0;
  std::jthread faults([&] {
    for (int k = 0; k < rounds; ++k) {
      // A kill 6 s in (the group has formed and is copying), then every 20 s.
      std::this_thread::sleep_until(start + 6s + 20s * k);
      Instance& victim = instances[k % kInstances];
      victim.process.Signal(SIGKILL);
      const int64_t at = NowNs();
      (void)victim.process.Wait(10s);
      // Where the group had committed when the victim died: its partitions stay there until their
      // next owner commits (at least session.timeout.ms later).
      history.Killed(victim.incarnation, Committed(brokers, group));
      std::vector<int32_t> owned = OwnedAt(fleet.Events(), victim.incarnation, at);
      EXPECT_FALSE(owned.empty()) << victim.incarnation << " owned nothing when it was killed";
      fleet.Gone(victim.incarnation, at);
      history.AddFault(
          {absl::StrCat("SIGKILL router ", victim.incarnation), at, owned, victim.incarnation});
      ++kills;
      fleet.Start(victim);
      // 10 s later another instance stops cleanly (commit, leave the group) and starts again.
      std::this_thread::sleep_until(start + 16s + 20s * k);
      Instance& stopped = instances[(k + 1) % kInstances];
      stopped.process.Signal(SIGTERM);
      // close_timeout 10 s + the last batch's commit (at most 10 s, Router::Stop).
      auto status = stopped.process.Wait(25s);
      EXPECT_TRUE(status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << stopped.incarnation << " did not stop cleanly: "
          << (status.ok() ? absl::StrCat("status ", *status) : status.status().ToString());
      ++clean_restarts;
      fleet.Start(stopped);
    }
  });

  absl::Status refused;
  for (int64_t i = 0; i < total; ++i) {
    const int p = static_cast<int>(i % kPartitions);
    absl::Status s = writers[p]->SendNext(p);
    while (s.code() == absl::StatusCode::kResourceExhausted) s = writers[p]->SendNext(p);
    if (!s.ok()) {
      refused = s;
      break;
    }
    Pace(start, duration, i + 1, total);
  }
  EXPECT_TRUE(refused.ok()) << refused;
  faults.join();
  EXPECT_TRUE(producer->Flush(60s).ok());
  // Stuck after 60 s without progress: a rebalance after a restart takes seconds, a killed
  // member's partitions move after its session timeout (6 s), and every batch is committed.
  absl::Status caught_up = WaitForGroupToCatchUp(brokers, group, kPartitions, 60s);
  EXPECT_TRUE(caught_up.ok()) << caught_up << " (logs in " << fleet.dir() << ")";
  for (Instance& in : instances) in.process.Signal(SIGTERM);
  for (Instance& in : instances) {
    auto status = in.process.Wait(25s);  // as above
    EXPECT_TRUE(status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << in.incarnation << " did not stop cleanly";
  }
  absl::Status drained = reader.DrainToEnd(60s);
  EXPECT_TRUE(drained.ok()) << drained;

  OwnershipReport owners = CheckOwnership(fleet.Events());
  HistoryReport report = history.Check();
  report.extra["kills"] = kills;
  report.extra["clean_restarts"] = clean_restarts;
  report.extra["concurrent_owners"] = static_cast<double>(owners.overlaps);
  History::Publish(report);
  EXPECT_EQ(report.lost, 0u) << report.Details();
  EXPECT_EQ(report.duplicated_unexplained, 0u) << report.Details();
  // A killed router repeats at most the batch it had not committed (max_batch records): the router
  // commits each batch before it polls the next.
  EXPECT_LE(report.duplicated_after_kill, static_cast<uint64_t>(kills * kMaxBatch))
      << report.Details();
  EXPECT_EQ(report.reordered, 0u) << report.Details();
  EXPECT_EQ(report.unknown, 0u) << report.Details();
  EXPECT_EQ(report.reports_missing + report.reports_extra + report.failed, 0u)
      << report.SummaryLine();
  EXPECT_EQ(owners.overlaps, 0u) << absl::StrJoin(owners.examples, "\n");
}

}  // namespace
}  // namespace messagecorps::testing
