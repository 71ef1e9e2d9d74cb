// copier_child: the exactly-once copier of the transactional-copy scenario, in its own process so
// that the scenario can SIGKILL it (transactional_copy_scenario_test.cc). Built on the library's
// primitives: a group Consumer (read_committed, manual commits) and a transactional Producer that
// commits the input positions inside each transaction (KIP-447).
//
//   copier_child --brokers B --group G --input T --output O --transactional-id ID
//                --incarnation NAME --events FILE [--max-batch N] [--abort-every K]
//
// Per batch of polled records, one transaction: each mcorps_test.HistoryRecord is copied to the
// same partition of O, marked with NAME, its input position and the transaction ("NAME/n"); then
// the batch's next offsets are sent with the consumer's group metadata and the transaction is
// committed. Every K-th transaction is aborted on purpose after its records were written (and then
// redone), so that readers have aborted records to not see. A transaction that must be aborted is
// aborted, the input rewound to the batch's first offsets, and the batch redone; one whose
// coordinator does not answer (timeouts) is abandoned with its producer: a new producer with the
// same transactional id fences it and aborts the transaction. Appends to FILE
// one line per event: "aborted NS TXN" (before calling abort), "committed NS TXN N" (after the
// commit returned, N records). SIGTERM: finish the current transaction, close, exit 0. A fatal
// error (e.g. fenced) exits 1; bad arguments 2.
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
#include "messagecorps/consumer.h"
#include "messagecorps/error.h"
#include "messagecorps/producer.h"
#include "messagecorps/type_registry.h"
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

// Runs `call` until it succeeds or fails for good: a retriable error (a timeout, the coordinator
// moving) is tried again, at most `attempts` times.
template <class F>
absl::Status Retrying(F&& call, int attempts = 20) {
  absl::Status s;
  for (int i = 0; i < attempts; ++i) {
    s = call();
    if (s.ok() || !IsRetriable(s) || IsFatal(s) || TransactionMustAbort(s)) return s;
    std::fprintf(stderr, "copier_child: retrying: %s\n", s.ToString().c_str());
    std::this_thread::sleep_for(200ms);
  }
  return s;
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

  TypeRegistry registry;
  if (!registry.Bind(args["--input"], mcorps_test::HistoryRecord::descriptor()).ok()) return 2;
  ConsumerConfig cc;
  cc.brokers = args["--brokers"];
  cc.group_id = args["--group"];
  cc.topics = {args["--input"]};
  cc.registry = &registry;
  cc.start = StartOffset::kEarliest;
  cc.commit = CommitMode::kManual;
  cc.max_batch = args.count("--max-batch") ? std::atoi(args["--max-batch"].c_str()) : 500;
  cc.properties["isolation.level"] = "read_committed";
  cc.properties["session.timeout.ms"] = "6000";  // a killed copier's partitions move after 6 s
  cc.properties["heartbeat.interval.ms"] = "500";
  auto consumer = Consumer::Create(cc);
  if (!consumer.ok()) {
    std::fprintf(stderr, "copier_child: %s\n", consumer.status().ToString().c_str());
    return 2;
  }
  ProducerConfig pc;
  pc.brokers = cc.brokers;
  pc.transactional_id = args["--transactional-id"];
  pc.envelope = EnvelopeSettings{incarnation, protobuf::common::DEVELOPMENT};
  pc.close_timeout = 5s;
  std::unique_ptr<Producer> producer;
  // A new transactional producer: InitTransactions fences the previous one with the same id (an
  // earlier incarnation, or our own stuck producer) and aborts what it left open. 60 s: the
  // coordinator may itself be restarting (the scenario kills it).
  auto renew = [&]() -> absl::Status {
    producer.reset();  // aborts its open transaction, if it still can, within close_timeout
    auto p = Producer::Create(pc);
    if (!p.ok()) return p.status();
    producer = std::move(*p);
    return Retrying([&] { return producer->InitTransactions(60s); });
  };
  if (absl::Status s = renew(); !s.ok()) {
    std::fprintf(stderr, "copier_child: init transactions: %s\n", s.ToString().c_str());
    return 1;
  }
  const Topic<mcorps_test::HistoryRecord> output(args["--output"]);
  int64_t transactions = 0, copied = 0, aborts = 0;
  int exit_code = 0;

  while (!g_stop.load()) {
    auto batch = (*consumer)->Poll(100ms);
    if (!batch.ok()) {
      std::fprintf(stderr, "copier_child: poll: %s\n", batch.status().ToString().c_str());
      exit_code = 1;
      break;
    }
    if (batch->empty()) continue;
    // The batch's first and next offsets per partition.
    std::map<int32_t, std::pair<int64_t, int64_t>> range;
    for (const ReceivedMessage& m : *batch) {
      auto [it, fresh] = range.try_emplace(m.partition(), m.offset(), m.offset() + 1);
      if (!fresh) it->second.second = m.offset() + 1;
    }
    for (bool done = false; !done;) {
      const std::string txn = absl::StrCat(incarnation, "/", transactions++);
      const bool abort_on_purpose = abort_every > 0 && transactions % abort_every == 0;
      absl::Status s = producer->BeginTransaction();
      for (size_t i = 0; s.ok() && i < batch->size(); ++i) {
        const ReceivedMessage& m = (*batch)[i];
        const auto* in = m.As<mcorps_test::HistoryRecord>();
        if (in == nullptr) {
          std::fprintf(stderr, "copier_child: undecodable record %d@%lld: %s\n", m.partition(),
                       static_cast<long long>(m.offset()), m.decode_status().ToString().c_str());
          continue;
        }
        mcorps_test::HistoryRecord out = *in;
        out.clear__message_data();
        out.set_processed_by(incarnation);
        out.set_input_partition(m.partition());
        out.set_input_offset(m.offset());
        out.set_transaction(txn);
        SendOptions options;
        options.partition = m.partition();
        s = producer->Send(output, out, options);
      }
      if (s.ok() && abort_on_purpose) {
        (void)producer->Flush(30s);  // the records are in the log before the abort
        ErrorDetail on_purpose;
        on_purpose.abort_transaction = true;
        s = MakeError(absl::StatusCode::kAborted, "aborted on purpose", on_purpose);
      }
      if (s.ok()) {
        std::vector<TopicPartition> offsets;
        for (const auto& [p, r] : range) offsets.push_back({args["--input"], p, r.second});
        s = Retrying([&] { return producer->SendOffsetsToTransaction(offsets, **consumer, 30s); },
                     2);
      }
      if (s.ok()) s = Retrying([&] { return producer->CommitTransaction(30s); }, 2);
      if (s.ok()) {
        Event(absl::StrCat("committed ", testing::NowNs(), " ", txn, " ", batch->size()));
        copied += static_cast<int64_t>(batch->size());
        done = true;
        continue;
      }
      if (IsFatal(s) ||
          (!TransactionMustAbort(s) && !IsRetriable(s) && !producer->in_transaction())) {
        std::fprintf(stderr, "copier_child: %s: %s\n", txn.c_str(), s.ToString().c_str());
        exit_code = 1;
        break;
      }
      // Abort, rewind the input to the batch, redo it.
      Event(absl::StrCat("aborted ", testing::NowNs(), " ", txn));
      ++aborts;
      if (!abort_on_purpose) {
        std::fprintf(stderr, "copier_child: %s aborted: %s\n", txn.c_str(), s.ToString().c_str());
      }
      // Still timing out after two tries of 30 s: the transaction coordinator does not answer
      // this producer. Seen with librdkafka 2.0.2 after the coordinator's node was killed and
      // restarted: its requests to the coordinator stayed queued, never sent, time after time
      // (librdkafka fixed a coordinator refresh stuck on an unreachable broker in 2.10.0, #4970).
      // A new producer with the same id fences this one and aborts its transaction.
      const bool stuck = IsRetriable(s) && !TransactionMustAbort(s);
      absl::Status a = stuck ? renew() : Retrying([&] { return producer->AbortTransaction(30s); });
      if (!a.ok()) {
        std::fprintf(stderr, "copier_child: abort %s: %s\n", txn.c_str(), a.ToString().c_str());
        exit_code = 1;
        break;
      }
      if (stuck) std::fprintf(stderr, "copier_child: %s: renewed the producer\n", txn.c_str());
      for (const auto& [p, r] : range) {
        // Without waiting: a seek waits for the partition's fetcher, which is stuck while the
        // partition's leader is down (a coordinator kill often kills it too); waiting 10 s per
        // partition held the copier for over a minute. The seek takes effect before the next
        // records of the partition are handed out either way (librdkafka drops what was fetched
        // before it).
        absl::Status seek = (*consumer)->Seek({args["--input"], p, r.first}, 0ms);
        if (!seek.ok()) {
          // The partition was revoked meanwhile: its next owner reads it from the committed offset.
          std::fprintf(stderr, "copier_child: rewind %d: %s\n", p, seek.ToString().c_str());
        }
      }
      done = true;  // the rewound records come again from Poll
    }
    if (exit_code != 0) break;
  }
  std::fprintf(stderr, "copier_child %s: %s; %lld transactions, %lld records copied, %lld aborts\n",
               incarnation.c_str(), exit_code == 0 ? "stopped" : "failed",
               static_cast<long long>(transactions), static_cast<long long>(copied),
               static_cast<long long>(aborts));
  (void)(*consumer)->Close(10s);
  ::close(g_events);
  return exit_code;
}
