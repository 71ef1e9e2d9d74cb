// copier_child: the exactly-once copier of the transactional-copy scenario, in its own process so
// that the scenario can SIGKILL it (transactional_copy_scenario_test.cc). It is the library's
// Router in exactly-once mode (RouterConfig::exactly_once): the scenario proves that mode.
//
//   copier_child --brokers B --group G --input T --output O --transactional-id ID
//                --incarnation NAME --events FILE [--max-batch N] [--abort-every RECORDS]
//
// Per batch of polled records, one transaction of the Router: each mcorps_test.HistoryRecord is
// copied to the same partition of O, marked with NAME, its input position and the transaction
// ("NAME/n", n = Router::transaction()); the router commits the batch's input positions in the
// transaction. Once RECORDS records were handled since the last abort, the handler aborts the
// transaction of the next one on purpose: the copies it made before in that transaction are in the
// log (the router waits for them), so readers have aborted records to not see; the router then
// redoes the batch. (Counting records, not transactions: a copier that keeps up sees
// transactions of a record or two, and a "every K-th transaction at its 10th record" rule then
// never fired — seen in CI, 2026-12-07.)
// event (RouterConfig::exactly_once.on_outcome): "aborted NS TXN" (before the abort),
// "committed NS TXN N" (after the commit, N records). SIGTERM: finish the current transaction,
// close, exit 0. A fatal error (e.g. fenced) exits 1; bad arguments 2.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "mcorps_test/history.pb.h"
#include "messagecorps/error.h"
#include "messagecorps/router.h"
#include "support/history.h"

namespace {

using namespace std::chrono_literals;
using namespace messagecorps;

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

int g_events = -1;
void Event(const std::string& line) {
  std::string l = line + "\n";
  if (::write(g_events, l.data(), l.size()) < 0) std::perror("copier_child: events");
}

}  // namespace

int main(int argc, char** argv) {
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  for (const char* required : {"--brokers", "--group", "--input", "--output", "--transactional-id",
                               "--incarnation", "--events"}) {
    if (!args.count(required)) {
      std::fprintf(stderr, "copier_child: %s is required\n", required);
      return 2;
    }
  }
  // Dies with the scenario: a test that crashed must not leave us running. (Not
  // PR_SET_PDEATHSIG: that fires when the thread that started us ends, and the scenarios start
  // restarted instances from their fault threads.)
  const pid_t parent = ::getppid();
  std::thread([parent] {
    while (::getppid() == parent) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    _exit(3);
  }).detach();
  const std::string incarnation = args["--incarnation"];
  const int abort_every =
      args.count("--abort-every") ? std::atoi(args["--abort-every"].c_str()) : 0;
  g_events = ::open(args["--events"].c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (g_events < 0) {
    std::perror("copier_child: open events file");
    return 2;
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  RouterConfig config;
  config.client.brokers = args["--brokers"];
  config.consumer.group_id = args["--group"];
  config.consumer.start = StartOffset::kEarliest;
  config.consumer.max_batch =
      args.count("--max-batch") ? std::atoi(args["--max-batch"].c_str()) : 500;
  config.consumer_properties["session.timeout.ms"] = "6000";  // a killed copier's partitions move
  config.consumer_properties["heartbeat.interval.ms"] = "500";
  config.producer.envelope = EnvelopeSettings{incarnation, protobuf::common::DEVELOPMENT};
  config.producer.close_timeout = 5s;
  config.exactly_once.emplace();
  config.exactly_once->transactional_id = args["--transactional-id"];
  int64_t committed_transactions = 0, copied = 0, aborts = 0;
  config.exactly_once->on_outcome = [&](const TransactionOutcome& o) {
    const std::string txn = absl::StrCat(incarnation, "/", o.sequence);
    if (o.committed) {
      Event(absl::StrCat("committed ", testing::NowNs(), " ", txn, " ", o.records));
      ++committed_transactions;
      copied += static_cast<int64_t>(o.records);
    } else {
      Event(absl::StrCat("aborted ", testing::NowNs(), " ", txn));
      ++aborts;
      if (!TransactionMustAbort(o.status) ||
          o.status.message().find("on purpose") == std::string_view::npos) {
        std::fprintf(stderr, "copier_child: %s aborted: %s\n", txn.c_str(),
                     o.status.ToString().c_str());
      }
    }
  };
  Router router(config);
  const Topic<mcorps_test::HistoryRecord> input(args["--input"]);
  const std::string output = args["--output"];
  int64_t since_abort = 0;  // records handled since the last abort on purpose
  absl::Status handle = router.Handle(
      "copy", input,
      [&](const mcorps_test::HistoryRecord& in, const ReceivedMessage& m) -> HandlerResult {
        const uint64_t n = router.transaction().value_or(0);
        if (abort_every > 0 && ++since_abort > abort_every) {
          since_abort = 0;
          ErrorDetail on_purpose;
          on_purpose.abort_transaction = true;
          return MakeError(absl::StatusCode::kAborted, "aborted on purpose", on_purpose);
        }
        mcorps_test::HistoryRecord out = in;
        out.clear__message_data();
        out.set_processed_by(incarnation);
        out.set_input_partition(m.partition());
        out.set_input_offset(m.offset());
        out.set_transaction(absl::StrCat(incarnation, "/", n));
        Outgoing o = Outgoing::Of(Topic<mcorps_test::HistoryRecord>(output), std::move(out));
        o.partition = m.partition();
        std::vector<Outgoing> outputs;
        outputs.push_back(std::move(o));
        return outputs;
      });
  if (!handle.ok()) {
    std::fprintf(stderr, "copier_child: %s\n", handle.ToString().c_str());
    return 2;
  }
  // SIGTERM sets g_stop: the router finishes its transaction and leaves the group.
  std::jthread stopper([&](std::stop_token stop) {
    while (!stop.stop_requested() && !g_stop.load()) std::this_thread::sleep_for(50ms);
    router.Stop();
  });
  const absl::Status result = router.Run();
  stopper.request_stop();
  const int exit_code = result.ok() ? 0 : 1;
  const RouterStats stats = router.Stats();
  std::fprintf(stderr,
               "copier_child %s: %s; %lld transactions committed, %lld records copied, %lld "
               "aborts, %llu producer renewals%s%s\n",
               incarnation.c_str(), exit_code == 0 ? "stopped" : "failed",
               static_cast<long long>(committed_transactions), static_cast<long long>(copied),
               static_cast<long long>(aborts),
               static_cast<unsigned long long>(stats.producer_renewals), result.ok() ? "" : ": ",
               result.ok() ? "" : result.ToString().c_str());
  ::close(g_events);
  return exit_code;
}
