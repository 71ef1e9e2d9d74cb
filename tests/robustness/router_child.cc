// router_child: one Router instance of the consumer-churn scenario, in its own process so that the
// scenario can SIGKILL it (churn_scenario_test.cc).
//
//   router_child --brokers B --group G --input T --output O --incarnation NAME --events FILE
//                [--max-batch N]
//
// Copies every mcorps_test.HistoryRecord of T to O, keyed by its writer, marked as processed by
// NAME from its input partition and offset. Appends to FILE, with steady-clock nanoseconds (the
// same clock as the scenario's), one line per event: "assign NS PARTITION", "revoke NS PARTITION",
// and "stopped NS" after a clean stop; each line is written with one write(2) as it happens, so a
// SIGKILL loses none. SIGTERM stops the router cleanly (commit, leave the group); exit status 0
// then, 1 if Run failed, 2 for bad arguments.
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
#include "messagecorps/router.h"
#include "support/history.h"

namespace {

std::atomic<bool> g_stop{false};
void OnSignal(int) { g_stop.store(true); }

int g_events = -1;
void Event(const std::string& line) {
  std::string l = line + "\n";
  if (::write(g_events, l.data(), l.size()) < 0) std::perror("router_child: events");
}

}  // namespace

int main(int argc, char** argv) {
  using namespace messagecorps;
  std::map<std::string, std::string> args;
  for (int i = 1; i + 1 < argc; i += 2) args[argv[i]] = argv[i + 1];
  for (const char* required :
       {"--brokers", "--group", "--input", "--output", "--incarnation", "--events"}) {
    if (!args.count(required)) {
      std::fprintf(stderr, "router_child: %s is required\n", required);
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
  g_events = ::open(args["--events"].c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (g_events < 0) {
    std::perror("router_child: open events file");
    return 2;
  }
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);

  RouterConfig rc;
  rc.client.brokers = args["--brokers"];
  rc.consumer.group_id = args["--group"];
  rc.consumer.start = StartOffset::kEarliest;
  rc.consumer.max_batch = args.count("--max-batch") ? std::atoi(args["--max-batch"].c_str()) : 100;
  // A killed member's partitions move after session.timeout.ms: 6 s, as in the other tests.
  rc.consumer_properties["session.timeout.ms"] = "6000";
  rc.consumer_properties["heartbeat.interval.ms"] = "500";
  rc.consumer.on_assign = [](const std::vector<TopicPartition>& parts) {
    for (const auto& p : parts) Event(absl::StrCat("assign ", testing::NowNs(), " ", p.partition));
  };
  rc.consumer.on_revoke = [](const std::vector<TopicPartition>& parts) {
    for (const auto& p : parts) Event(absl::StrCat("revoke ", testing::NowNs(), " ", p.partition));
  };
  rc.producer.envelope = EnvelopeSettings{incarnation, protobuf::common::DEVELOPMENT};
  rc.close_timeout = std::chrono::seconds(10);
  Router router(rc);
  const Topic<mcorps_test::HistoryRecord> input(args["--input"]);
  const Topic<mcorps_test::HistoryRecord> output(args["--output"]);
  absl::Status s = router.Handle(
      "copy", input,
      [&](const mcorps_test::HistoryRecord& in, const ReceivedMessage& record) -> HandlerResult {
        mcorps_test::HistoryRecord out = in;
        out.clear__message_data();
        out.set_processed_by(incarnation);
        out.set_input_partition(record.partition());
        out.set_input_offset(record.offset());
        std::vector<Outgoing> outs;
        outs.push_back(Outgoing::Of(output, std::move(out)));
        outs.back().key = in.writer();  // one output partition per writer: its order is checkable
        return outs;
      });
  if (!s.ok()) {
    std::fprintf(stderr, "router_child: %s\n", s.ToString().c_str());
    return 2;
  }
  absl::Status result;
  std::atomic<bool> finished{false};
  std::thread run([&] {
    result = router.Run();
    finished.store(true);
  });
  while (!g_stop.load() && !finished.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  router.Stop();
  run.join();
  const RouterStats st = router.Stats();
  std::fprintf(
      stderr,
      "router_child %s: %s; received %llu handled %llu dead-lettered %llu published %llu "
      "commits %llu commit failures %llu\n",
      incarnation.c_str(), result.ok() ? "stopped" : result.ToString().c_str(),
      static_cast<unsigned long long>(st.received), static_cast<unsigned long long>(st.handled),
      static_cast<unsigned long long>(st.dead_lettered),
      static_cast<unsigned long long>(st.published), static_cast<unsigned long long>(st.commits),
      static_cast<unsigned long long>(st.commit_failures));
  if (result.ok()) Event(absl::StrCat("stopped ", testing::NowNs()));
  ::close(g_events);
  return result.ok() ? 0 : 1;
}
