// Scenario "transactional copy" (Kafka's ducktape transactions_test): a copier process
// (copier_child: group Consumer + transactional Producer, input offsets committed inside each
// transaction) copies HistoryRecords from one topic to another while writers fill the input; the
// copier is SIGKILLed and restarted (same transactional id, so the new one aborts what the old one
// left open), and the node that is the copier's transaction coordinator is SIGKILLed and restarted.
// The copier also aborts a transaction on purpose every 500 records, after writing part of it. A
// read_committed reader reads the output all along. Must hold: the output read with read_committed
// equals the input exactly (0 lost, 0 duplicated, nothing unknown), order kept per partition and
// writer, and no record of an aborted transaction is ever read. Forms: CI 10,000 records on 6
// partitions with one copier kill and one coordinator kill, and 2,000 on 1 partition with one
// copier kill; full 20,000 on 1 partition and 100,000 on 6, each with 3 copier kills and 2
// coordinator kills.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

#include "scenario.h"
#include "support/history.h"
#include "support/history_io.h"
#include "support/kafka_test_env.h"

namespace messagecorps::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The partition of __transaction_state that holds `transactional_id` (Kafka's
// TransactionStateManager: abs(String.hashCode()) % partitions); its leader is the coordinator.
int32_t TransactionStatePartition(const std::string& transactional_id, int partitions) {
  int32_t h = 0;
  for (unsigned char c : transactional_id)
    h = static_cast<int32_t>(31u * static_cast<uint32_t>(h) + c);
  const int32_t abs = h == INT32_MIN ? 0 : (h < 0 ? -h : h);
  return abs % partitions;
}

absl::StatusOr<int> TransactionCoordinator(const std::string& brokers, const std::string& id) {
  ClientConfig config;
  config.brokers = brokers;
  auto admin = AdminClient::Create(config);
  if (!admin.ok()) return admin.status();
  auto info = (*admin)->DescribeTopic("__transaction_state", 10s);
  if (!info.ok()) return info.status();
  const int32_t p = TransactionStatePartition(id, static_cast<int>(info->partitions.size()));
  return LeaderOf(brokers, "__transaction_state", p);
}

struct Copier {
  std::string dir, brokers, group, input, output, transactional_id;
  int generation = 0;
  std::string incarnation;
  std::vector<std::string> event_files;
  ChildProcess process;

  void Start() {
    incarnation = absl::StrCat("copier.", generation++);
    const std::string events = absl::StrCat(dir, "/", group, "-", incarnation, ".events");
    event_files.push_back(events);
    auto p = ChildProcess::Start(
        {COPIER_CHILD, "--brokers", brokers, "--group", group, "--input", input, "--output", output,
         "--transactional-id", transactional_id, "--incarnation", incarnation, "--events", events,
         "--max-batch", "200", "--abort-every", "500"},
        absl::StrCat(dir, "/", group, "-", incarnation, ".log"));
    ASSERT_TRUE(p.ok()) << p.status();
    process = std::move(*p);
  }

  // Notes every transaction a copier aborted in `history`; returns how many.
  int NoteAborted(History& history) const {
    int n = 0;
    for (const std::string& path : event_files) {
      std::ifstream in(path);
      std::string line;
      while (std::getline(in, line)) {
        std::istringstream words(line);
        std::string kind, at, txn;
        if (words >> kind >> at >> txn && kind == "aborted") {
          history.Aborted(txn);
          ++n;
        }
      }
    }
    return n;
  }
};

void RunTransactionalCopy(int partitions, int64_t total, std::chrono::milliseconds duration,
                          int copier_kills, int coordinator_kills) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  struct WholeClusterAfterwards {
    ~WholeClusterAfterwards() { RestartMissingNodes(); }
  } whole;
  Copier copier;
  copier.dir = ScenarioDir("transactional-copy");
  copier.brokers = brokers;
  copier.group = UniqueName("copy");
  copier.input = UniqueName("copy-in");
  copier.output = UniqueName("copy-out");
  copier.transactional_id = UniqueName("copier");
  CreateReplicatedTopic(brokers, copier.input, partitions);
  CreateReplicatedTopic(brokers, copier.output, partitions);

  History history(absl::StrCat("transactional-copy-", partitions, "p/", FormName(ScenarioForm())));
  HistoryReader reader(brokers, {{copier.output, partitions}}, history);  // read_committed
  ASSERT_TRUE(reader.Start().ok());
  copier.Start();
  auto producer = MakeProducer(brokers);
  ASSERT_NE(producer, nullptr);
  std::vector<std::unique_ptr<HistoryWriter>> writers;
  for (int p = 0; p < partitions; ++p) {
    writers.push_back(
        std::make_unique<HistoryWriter>(absl::StrCat("w", p), *producer, history, copier.input));
  }

  // Faults spread over the writing time: copier kills and coordinator kills alternating, the first
  // 5 s in, then every 12 s.
  const auto start = Clock::now();
  int copier_killed = 0, coordinator_killed = 0;
  std::atomic<bool> faults_done{false};
  std::jthread faults([&] {
    struct Done {
      std::atomic<bool>& done;
      ~Done() { done = true; }
    } done{faults_done};
    for (int k = 0; k < copier_kills + coordinator_kills; ++k) {
      std::this_thread::sleep_until(start + 5s + 12s * k);
      const bool kill_copier =
          coordinator_killed >= coordinator_kills || (copier_killed < copier_kills && k % 2 == 0);
      if (kill_copier) {
        copier.process.Signal(SIGKILL);
        const int64_t at = NowNs();
        (void)copier.process.Wait(10s);
        history.AddFault(
            {absl::StrCat("SIGKILL ", copier.incarnation), at, {}, copier.incarnation});
        ++copier_killed;
        copier.Start();
      } else {
        auto node = TransactionCoordinator(brokers, copier.transactional_id);
        if (!node.ok()) {
          ADD_FAILURE() << "transaction coordinator: " << node.status();
          continue;
        }
        KillNode(*node);
        history.AddFault(
            {absl::StrCat("kill node ", *node, " (transaction coordinator)"), NowNs(), {}, ""});
        ++coordinator_killed;
        std::this_thread::sleep_for(2s);
        RestartNode(*node);
        // 120 s: as in the leader-kill scenario (a restart under load, then catching up).
        absl::Status isr = WaitForFullIsr(brokers, copier.output, 120s);
        EXPECT_TRUE(isr.ok()) << isr;
      }
    }
  });

  // `total` records at total/duration per second, and on at that rate until the last fault is
  // over (a slow restart delays the later faults; recovery is measurable only while records flow).
  absl::Status refused;
  for (int64_t i = 0; i < total || !faults_done.load(); ++i) {
    const int p = static_cast<int>(i % partitions);
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
  int64_t sent = 0;
  for (const auto& w : writers) sent += w->sent();
  EXPECT_TRUE(producer->Flush(60s).ok());
  // Stuck after 120 s without progress: the copier's longest legitimate pause is a producer
  // renewal (two 30 s timeouts, then a new producer's InitTransactions) plus rejoining its group
  // (a killed member's session: 6 s).
  absl::Status copied = WaitForGroupToCatchUp(brokers, copier.group, partitions, 120s);
  if (!copied.ok()) {  // what the stuck copier is doing, before it is stopped
    const std::string stacks =
        absl::StrCat(copier.dir, "/", copier.group, "-", copier.incarnation, ".stacks");
    absl::Status dumped = copier.process.DumpStacks(stacks);
    ADD_FAILURE() << copied << " (logs in " << copier.dir
                  << "; stacks: " << (dumped.ok() ? stacks : dumped.ToString()) << ")";
  }
  copier.process.Signal(SIGTERM);
  auto status = copier.process.Wait(30s);  // the current transaction (30 s bound) + close
  EXPECT_TRUE(status.ok() && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << copier.incarnation << " did not stop cleanly (log in " << copier.dir << ")";
  absl::Status drained = reader.DrainToEnd(120s);
  EXPECT_TRUE(drained.ok()) << drained;

  const int aborted = copier.NoteAborted(history);
  HistoryReport report = history.Check();
  report.extra["copier_kills"] = copier_killed;
  report.extra["coordinator_kills"] = coordinator_killed;
  report.extra["aborted_transactions"] = aborted;
  History::Publish(report);
  EXPECT_GT(aborted, 0) << "the copier aborts a transaction on purpose every 500 records";
  EXPECT_EQ(report.sent, static_cast<uint64_t>(sent));
  EXPECT_EQ(report.acked, static_cast<uint64_t>(sent));
  EXPECT_EQ(report.lost, 0u) << report.Details();
  EXPECT_EQ(report.duplicated, 0u) << report.Details();
  EXPECT_EQ(report.reordered, 0u) << report.Details();
  EXPECT_EQ(report.aborted_reads, 0u) << report.Details();
  EXPECT_EQ(report.unknown, 0u) << report.Details();
  EXPECT_EQ(report.distinct, static_cast<uint64_t>(sent)) << "output = input";
  EXPECT_EQ(copier_killed, copier_kills);
  EXPECT_EQ(coordinator_killed, coordinator_kills);
}

TEST(TransactionalCopy, SixPartitionsCopiedExactlyOnceThroughCopierAndCoordinatorKills) {
  RunTransactionalCopy(6, ByForm<int64_t>(10'000, 100'000), ByForm(30s, 90s), ByForm(1, 3),
                       ByForm(1, 2));
}

TEST(TransactionalCopy, OnePartitionCopiedExactlyOnceThroughCopierAndCoordinatorKills) {
  // CI: a small run with one copier kill (the 6-partition case has both kinds of fault).
  RunTransactionalCopy(1, ByForm<int64_t>(2'000, 20'000), ByForm(12s, 70s), ByForm(1, 3),
                       ByForm(0, 2));
}

}  // namespace
}  // namespace messagecorps::testing
