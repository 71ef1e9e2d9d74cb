// messagecorps/router.h — consume → handle → produce services, Watermill style.
//
// A Router owns one consumer group membership (a Consumer in CommitMode::kManual;
// DefaultAssignmentStrategy()) and publishes with a Producer. Handlers are registered per topic;
// each received record goes to every handler of its topic (in registration order), and what a
// handler returns (Outgoing messages) is published, by default as *derived* from the record (same
// trace id, the record's span recorded as parent: SendOptions::DerivedFrom).
//
// Delivery guarantee: at-least-once, nothing lost, nothing blocking forever. Per batch returned by
// Consumer::Poll:
//   1. a record that did not decode goes to the dead-letter queue at once (reason "decode", or
//      "decode_limit" when it is over a ConsumerConfig::limits bound);
//   2. otherwise its handlers run (through the middleware); a handler that still fails (after the
//      Retry middleware, if used) sends the record to the DLQ (reason "handler"; the error names
//      the handler; the record's later handlers are not called, earlier ones' outputs are still
//      published); outputs that the broker refused send it there with reason "publish";
//   3. the router waits for the delivery of every output and every dead letter of the batch, and
//      only then commits the batch's offsets (commit-after-processing; a commit the broker refuses
//      is retried with the next one).
//   If a dead-letter publish itself fails, nothing of the batch is committed and Run returns that
//   error (the records come again to whoever consumes the group next).
// So, for every record received: received = handled + dead_lettered + skipped (RouterStats).
// A record may be processed twice (a crash between publish and commit, a partition revoked in a
// rebalance before the commit): handlers should be idempotent or tolerate duplicates.
//
// Exactly-once (RouterConfig::exactly_once, KIP-98/KIP-447): each batch is one transaction of a
// transactional producer — the handlers' outputs, the batch's dead letters and the batch's input
// positions (sent with the consumer's group metadata, which fences a zombie instance) are
// committed together or not at all, and the consumer reads read_committed. So each input record's
// outputs appear in the read_committed output exactly once, whatever process, broker or
// coordinator dies. Per batch:
//   1. BeginTransaction; handlers run as above; a handler error dead-letters the record *inside*
//      the transaction; a handler error for which TransactionMustAbort() holds (e.g.
//      MakeError(kAborted, ..., ErrorDetail{.abort_transaction = true})) asks for the whole batch
//      to be redone instead (the handler decides: asking every time redoes it forever);
//   2. the router waits for every output and dead letter; one the broker refused aborts the
//      transaction (a transaction cannot commit with a failed write) — no "publish" dead letters;
//   3. SendOffsetsToTransaction + CommitTransaction (a retriable error is tried once more).
//   On an abort: AbortTransaction, the input rewound to the batch's first offsets, the batch
//   polled and handled again in a new transaction (handlers see its records again: side effects
//   outside Kafka are not undone). A transaction whose coordinator stops answering (timeouts
//   twice) is abandoned with its producer: a new producer with the same transactional id fences
//   it and aborts the transaction (librdkafka 2.0.2 keeps such requests queued for good, see
//   docs/RELIABILITY.md). A fatal producer error (fenced by another instance with the same id)
//   ends Run with that error. Counts of an aborted batch (handled, published, dead_lettered,
//   skipped) are not added to RouterStats; its handler errors and retries are.
//
// skip_to_latest (for consumers that only care about the newest frame, e.g. a prediction service
// that fell behind): of several records of one partition in a batch only the newest is handled; the
// older ones are counted (RouterStats::skipped, Counter::kSkipped) and committed with the batch —
// dropped on purpose, not lost.
//
// Middleware wraps handlers: Use(a); Use(b) runs a(b(handler)) — the first one registered is the
// outermost. Built in (namespace messagecorps::middleware, below): Retry, PropagateTrace, Logging,
// Metrics. A typical service: Use(middleware::Logging(log)); Use(middleware::Metrics(metrics));
// Use(middleware::Retry(3, 100ms, 2s)).
//
// Thread-safety: configure (AddHandler, Handle, Use) before Run, from one thread; Run blocks the
// calling thread (one Run per Router at a time); Stop and Stats may be called from any thread.
// Handlers run on the Run thread, one record at a time.
// Ownership: the router owns its consumer, and its producer unless
// RouterConfig::producer_instance lends one.
// Configuration: one ClientConfig (RouterConfig::client) for every client the router opens, plus
// per-side properties and options; see RouterConfig.
#pragma once

#include <google/protobuf/message.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/consumer.h"
#include "messagecorps/dead_letter.h"
#include "messagecorps/producer.h"
#include "messagecorps/topic.h"
#include "messagecorps/type_registry.h"

namespace spdlog {
class logger;
}

namespace messagecorps {

class Metrics;

// How an outgoing message's trace is chosen.
enum class OutgoingTrace {
  kDefault,  // RouterConfig::propagate_trace decides (derived by default)
  kDerived,  // inherit the received record's trace (SendOptions::DerivedFrom)
  kNew,      // a fresh trace (unless the message itself already carries a trace_id)
};

// One message a handler wants published.
struct Outgoing {
  std::string topic;
  std::unique_ptr<google::protobuf::Message> message;
  EncodeOptions encoding;
  std::optional<std::string> key;
  // A partition of the output topic (e.g. the received record's, to keep per-partition order
  // through a copy); unset: the partitioner chooses (by key).
  std::optional<int32_t> partition;
  Headers headers;  // extra headers, after the standard ones
  OutgoingTrace trace = OutgoingTrace::kDefault;

  // Outgoing::Of(predictions_topic, prediction): the topic's name and encoding, the message moved
  // in.
  template <ProtoMessage T>
  static Outgoing Of(const Topic<T>& topic, T message) {
    Outgoing out;
    out.topic = topic.name();
    out.message = std::make_unique<T>(std::move(message));
    out.encoding = topic.encode_options();
    return out;
  }
};

using HandlerResult = absl::StatusOr<std::vector<Outgoing>>;
// Handles one decoded record (record.message() is never null here). An error sends the record to
// the DLQ (after the middleware's retries); an OK result's messages are published.
using Handler = std::function<HandlerResult(ReceivedMessage&)>;
using Middleware = std::function<Handler(Handler)>;

// What a router has done so far (monotonic totals).
struct RouterStats {
  // Records polled.
  uint64_t received = 0;
  // Records every handler of their topic succeeded on (and committed).
  uint64_t handled = 0;
  // Records stored in a dead-letter topic.
  uint64_t dead_lettered = 0;
  // Records skipped by skip_to_latest.
  uint64_t skipped = 0;
  // Outgoing messages acknowledged by the broker.
  uint64_t published = 0;
  // Handler chains that returned an error (one per record and handler).
  uint64_t handler_errors = 0;
  // Handler calls repeated by the Retry middleware.
  uint64_t retries = 0;
  // Accepted commits (in exactly-once mode: committed transactions).
  uint64_t commits = 0;
  // Exactly-once mode: transactions aborted (then redone), and transactional producers replaced
  // because their coordinator stopped answering (a commit timing out twice, or a
  // SendOffsetsToTransaction stuck in librdkafka past its timeout: producer.h).
  uint64_t aborted_transactions = 0;
  uint64_t producer_renewals = 0;
  // Refused or failed commits, and positions of revoked partitions not committed (those records
  // come again: at-least-once).
  uint64_t commit_failures = 0;
};

// What became of one transaction (exactly-once mode), reported to ExactlyOnceConfig::on_outcome.
struct TransactionOutcome {
  // The transaction's number in this Run, from 0 (Router::transaction() while it was open).
  uint64_t sequence = 0;
  bool committed = false;
  // Input records of the batch (handled, dead-lettered or skipped) — committed or to be redone.
  size_t records = 0;
  // Why it was aborted (OK when committed).
  absl::Status status;
};

// Exactly-once processing (see the file comment).
struct ExactlyOnceConfig {
  // The producer's transactional.id: unique per router instance and stable across its restarts
  // (e.g. "<service>/<instance slot>"), so that a restarted instance fences its predecessor and
  // aborts what it left open at once. Must not be empty.
  std::string transactional_id;
  // Bound on InitTransactions at the start of Run (the coordinator may itself be restarting).
  std::chrono::milliseconds init_timeout{60000};
  // Bound on each SendOffsetsToTransaction / CommitTransaction / AbortTransaction call.
  std::chrono::milliseconds commit_timeout{30000};
  // Called on the Run thread after each transaction is committed, or just before it is aborted.
  std::function<void(const TransactionOutcome&)> on_outcome;
};

struct RouterConfig {
  // One client configuration for every client the router opens — its consumer and its producer,
  // which publishes the handlers' outputs and the dead letters: brokers, librdkafka properties
  // (e.g. security settings: they reach every client), logger (also the router's own), metrics
  // (also the router's counters and the dead-letter count), statistics interval.
  ClientConfig client;
  // Properties for one side only, applied over client.properties (e.g. session.timeout.ms for
  // the consumer, linger.ms for the producer).
  std::map<std::string, std::string> consumer_properties;
  std::map<std::string, std::string> producer_properties;
  // Group, start offset, registry, decode limits, batch size, assign/revoke hooks. The router
  // chooses the rest: topics are the handlers' topics, commit is kManual (the router commits),
  // values are always decoded, and an explicit assignment is not allowed (kInvalidArgument).
  ConsumerOptions consumer;
  // Envelope (who is sending), header mode, queue wait, close timeout of the router's producer.
  // on_delivery is not called: the router waits for every report itself.
  ProducerOptions producer;
  // A producer to borrow instead of building one from `client` + `producer` (must outlive Run).
  Producer* producer_instance = nullptr;
  // Where dead letters go; their count is added to client.metrics when `dead_letter.metrics` is
  // null.
  DeadLetterConfig dead_letter;
  // Outputs inherit the received trace unless an Outgoing says otherwise.
  bool propagate_trace = true;
  // See the file comment.
  bool skip_to_latest = false;
  std::chrono::milliseconds poll_timeout{100};
  // Longest wait for the delivery of a batch's outputs (then they count as failed: DLQ "publish").
  std::chrono::milliseconds publish_timeout{30000};
  // Bound on leaving the group when Run ends.
  std::chrono::milliseconds close_timeout{10000};
  // Set: exactly-once processing with a transactional producer (see the file comment). Then
  // producer_instance must be null and the consumer's isolation.level, if set, read_committed
  // (kInvalidArgument otherwise).
  std::optional<ExactlyOnceConfig> exactly_once;
  // Run returns OK (after committing) once this many records were handled or dead-lettered in
  // all (checked after each batch, so a few more may have been); 0: no limit.
  uint64_t max_records = 0;
};

// The configuration of each client a router opens: `config.client` with the side's properties
// over its own, and the side's options. The consumer's topics, commit mode and decoding are
// left for the router to set.
ConsumerConfig RouterConsumerConfig(const RouterConfig& config);
ProducerConfig RouterProducerConfig(const RouterConfig& config);

class Router {
 public:
  explicit Router(RouterConfig config);
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // Registers `handler` for records of `topics`; `middleware` wraps only this handler (inside the
  // router-wide middleware). kAlreadyExists for a name already used, kInvalidArgument for an empty
  // name, no topics, an empty topic or an empty handler, kFailedPrecondition while running.
  absl::Status AddHandler(std::string name, std::vector<std::string> topics, Handler handler,
                          std::vector<Middleware> middleware = {});

  // Typed convenience: `fn(const In&, const ReceivedMessage&) -> HandlerResult`. Binds `topic` to
  // `In` in the router's type registry (when RouterConfig::consumer.registry is null; with your own
  // registry the topic must already be bound to In: kInvalidArgument otherwise).
  template <ProtoMessage In, class Fn>
  absl::Status Handle(std::string name, const Topic<In>& topic, Fn fn) {
    if (auto s = BindTopic(topic.name(), In::descriptor(), topic.options()); !s.ok()) return s;
    return AddHandler(std::move(name), {topic.name()},
                      [fn = std::move(fn)](ReceivedMessage& record) -> HandlerResult {
                        const In* in = record.As<In>();
                        if (in == nullptr) return TypeMismatch(record, In::descriptor());
                        return fn(*in, static_cast<const ReceivedMessage&>(record));
                      });
  }

  // Adds router-wide middleware (see the file comment for the order). kFailedPrecondition while
  // running, kInvalidArgument for an empty function.
  absl::Status Use(Middleware middleware);

  // Consumes until `stop` is requested, Stop() is called or RouterConfig::max_records were
  // processed (then returns OK after committing what was processed and leaving the group), or
  // until a fatal error: a dead-letter publish that failed
  // (the batch is not committed), a fatal consumer error, misconfiguration (kInvalidArgument: no
  // handlers, bad client config). kFailedPrecondition when already running.
  absl::Status Run(std::stop_token stop = {});
  // Asks Run to return after the current batch. Thread-safe; idempotent. A later Run starts again.
  // Run then returns within: the batch's handlers + its commit (at most 10 s when the coordinator
  // does not answer) + close_timeout — also while every broker is down.
  void Stop();

  bool running() const { return running_.load(); }
  RouterStats Stats() const;
  // The consumer while Run is active (for Lag, Assignment), else nullptr. Only safe to use from a
  // thread that knows Run is still running (e.g. from a handler).
  Consumer* consumer() const { return consumer_.load(); }
  // Exactly-once mode: the number of the transaction open on the Run thread (as in
  // TransactionOutcome::sequence), for a handler that marks its outputs; nullopt outside one.
  // Only from a handler (the Run thread).
  std::optional<uint64_t> transaction() const { return transaction_; }

 private:
  struct HandlerEntry {
    std::string name;
    std::vector<std::string> topics;
    Handler handler;
    std::vector<Middleware> middleware;
  };
  struct Counters;

  absl::Status BindTopic(const std::string& topic, const google::protobuf::Descriptor* type,
                         const TopicOptions& options);
  static absl::Status TypeMismatch(const ReceivedMessage& record,
                                   const google::protobuf::Descriptor* expected);

  RouterConfig config_;
  TypeRegistry owned_registry_;
  std::vector<HandlerEntry> handlers_;
  std::vector<Middleware> middleware_;
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<Consumer*> consumer_{nullptr};
  std::optional<uint64_t> transaction_;
  std::unique_ptr<Counters> counters_;
};

// ---- built-in middleware (namespace `middleware`: its Metrics() must not hide class Metrics) ----
namespace middleware {

// Calls the handler up to `max_attempts` times in all while it returns an error, sleeping
// `initial_backoff`, doubled each time up to `max_backoff`, between attempts. Each repeat counts as
// a retry (RouterStats::retries; Counter::kRetries through the Metrics middleware). max_attempts <
// 1 counts as 1.
Middleware Retry(int max_attempts, std::chrono::milliseconds initial_backoff,
                 std::chrono::milliseconds max_backoff);

// The same, with how to wait between attempts: RetryPolicy::sleep is called with each back-off
// (null: std::this_thread::sleep_for). Tests pass a recorder to check the back-off sequence
// without depending on the scheduler.
struct RetryPolicy {
  int max_attempts = 3;
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{2000};
  std::function<void(std::chrono::milliseconds)> sleep;
};
Middleware Retry(RetryPolicy policy);

// Marks every output of the handler as derived from the received record (trace inherited, the
// record's span as parent). This is the router's default (RouterConfig::propagate_trace); the
// middleware makes it explicit per handler, and forces it when propagate_trace is off.
Middleware PropagateTrace();

// Opens a logging::ScopedLogContext (trace id, span id, topic, partition, offset) around the
// handler so that every line it logs carries them; logs the outcome (debug on success, warn on
// error) to `logger` (null: spdlog's default logger).
Middleware Logging(std::shared_ptr<spdlog::logger> logger);

// Observes each call's duration in the handler-time histogram, counts Counter::kHandlerErrors per
// failed call and Counter::kRetries for the repeats made by a Retry middleware inside it (or, when
// placed inside Retry, for each call that is a repeat).
Middleware Metrics(std::shared_ptr<messagecorps::Metrics> metrics);

}  // namespace middleware
}  // namespace messagecorps
