#include "messagecorps/router.h"

#include <google/protobuf/descriptor.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <future>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"
#include "messagecorps/tracing.h"
#include "router_transactions.h"

namespace messagecorps {

namespace {

using SteadyClock = std::chrono::steady_clock;
using PartitionKey = std::pair<std::string, int32_t>;

// What the middleware of the handler chain running on this thread shares: the Retry middleware's
// attempt number and running retry total (read by the Metrics middleware and the router), and the
// handler's name (for log lines).
struct ChainState {
  int attempt = 1;
  uint64_t retries = 0;
  std::string_view handler_name;
};
thread_local ChainState tls_chain;

std::string Where(const ReceivedMessage& record) {
  return absl::StrCat(AsAbsl(record.topic()), "[", record.partition(), "]@", record.offset());
}

}  // namespace

struct Router::Counters {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> handled{0};
  std::atomic<uint64_t> dead_lettered{0};
  std::atomic<uint64_t> skipped{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> handler_errors{0};
  std::atomic<uint64_t> retries{0};
  std::atomic<uint64_t> commits{0};
  std::atomic<uint64_t> commit_failures{0};
  std::atomic<uint64_t> aborted_transactions{0};
  std::atomic<uint64_t> producer_renewals{0};
};

ConsumerConfig RouterConsumerConfig(const RouterConfig& config) {
  ConsumerConfig cc{config.client, config.consumer};
  for (const auto& [key, value] : config.consumer_properties) cc.properties[key] = value;
  return cc;
}

ProducerConfig RouterProducerConfig(const RouterConfig& config) {
  ProducerConfig pc{config.client, config.producer};
  for (const auto& [key, value] : config.producer_properties) pc.properties[key] = value;
  return pc;
}

Router::Router(RouterConfig config)
    : config_(std::move(config)),
      owned_registry_(TypeRegistry::WithSeedDefaults()),
      counters_(std::make_unique<Counters>()) {}

Router::~Router() = default;

absl::Status Router::AddHandler(std::string name, std::vector<std::string> topics, Handler handler,
                                std::vector<Middleware> middleware) {
  if (running_.load()) return absl::FailedPreconditionError("router: AddHandler while running");
  if (name.empty()) return absl::InvalidArgumentError("router: a handler needs a name");
  if (topics.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("router: handler ", name, " has no topics"));
  }
  for (const auto& t : topics) {
    if (t.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("router: handler ", name, " has an empty topic name"));
    }
  }
  if (!handler) {
    return absl::InvalidArgumentError(absl::StrCat("router: handler ", name, " is empty"));
  }
  for (const auto& m : middleware) {
    if (!m) {
      return absl::InvalidArgumentError(
          absl::StrCat("router: handler ", name, " has an empty middleware"));
    }
  }
  for (const auto& h : handlers_) {
    if (h.name == name) {
      return absl::AlreadyExistsError(
          absl::StrCat("router: a handler named ", name, " is already registered"));
    }
  }
  handlers_.push_back(
      {std::move(name), std::move(topics), std::move(handler), std::move(middleware)});
  return absl::OkStatus();
}

absl::Status Router::Use(Middleware middleware) {
  if (running_.load()) return absl::FailedPreconditionError("router: Use while running");
  if (!middleware) return absl::InvalidArgumentError("router: empty middleware");
  middleware_.push_back(std::move(middleware));
  return absl::OkStatus();
}

absl::Status Router::BindTopic(const std::string& topic, const google::protobuf::Descriptor* type,
                               const TopicOptions& options) {
  if (running_.load()) return absl::FailedPreconditionError("router: Handle while running");
  if (config_.consumer.registry == nullptr) return owned_registry_.Bind(topic, type, options);
  const TopicBinding* binding = config_.consumer.registry->Find(topic);
  if (binding == nullptr || binding->type != type) {
    return absl::InvalidArgumentError(
        absl::StrCat("router: topic ", topic, " is ",
                     binding ? absl::StrCat("bound to ", binding->type->full_name()) : "not bound",
                     " in the configured registry, but the handler expects ", type->full_name()));
  }
  return absl::OkStatus();
}

absl::Status Router::TypeMismatch(const ReceivedMessage& record,
                                  const google::protobuf::Descriptor* expected) {
  return absl::InvalidArgumentError(absl::StrCat(
      "record ", Where(record), " is a ",
      record.message() ? record.message()->GetDescriptor()->full_name() : std::string("(nothing)"),
      ", the handler expects ", expected->full_name()));
}

void Router::Stop() { stop_requested_.store(true); }

RouterStats Router::Stats() const {
  RouterStats s;
  s.received = counters_->received.load();
  s.handled = counters_->handled.load();
  s.dead_lettered = counters_->dead_lettered.load();
  s.skipped = counters_->skipped.load();
  s.published = counters_->published.load();
  s.handler_errors = counters_->handler_errors.load();
  s.retries = counters_->retries.load();
  s.commits = counters_->commits.load();
  s.commit_failures = counters_->commit_failures.load();
  s.aborted_transactions = counters_->aborted_transactions.load();
  s.producer_renewals = counters_->producer_renewals.load();
  return s;
}

namespace {

struct ActiveHandler {
  std::string_view name;
  Handler chain;
};

// Processed positions not committed yet: a commit the broker refused (e.g. REBALANCE_IN_PROGRESS
// while the group changes) is retried with the next one, or after a second when idle.
struct Uncommitted {
  std::map<PartitionKey, int64_t> next;  // next offset to read, per partition
  SteadyClock::time_point last_attempt{};
  bool last_failed = false;
};

// Commits the processed positions of the partitions still assigned. Positions of revoked partitions
// are dropped: their new owner reads those records again from the last accepted commit
// (at-least-once).
void CommitUncommitted(Consumer& consumer, Uncommitted& uncommitted, spdlog::logger& logger,
                       RouterStats& delta) {
  if (uncommitted.next.empty()) return;
  uncommitted.last_attempt = SteadyClock::now();
  std::set<PartitionKey> owned;
  for (const TopicPartition& tp : consumer.Assignment()) owned.insert({tp.topic, tp.partition});
  std::vector<TopicPartition> offsets;
  for (auto it = uncommitted.next.begin(); it != uncommitted.next.end();) {
    if (owned.count(it->first)) {
      offsets.push_back({it->first.first, it->first.second, it->second});
      ++it;
    } else {
      ++delta.commit_failures;
      logger.warn("not committing {}[{}] up to {}: partition no longer assigned", it->first.first,
                  it->first.second, it->second);
      it = uncommitted.next.erase(it);
    }
  }
  if (offsets.empty()) return;
  absl::Status s = consumer.Commit(offsets);
  uncommitted.last_failed = !s.ok();
  if (s.ok()) {
    ++delta.commits;
    uncommitted.next.clear();
  } else {
    ++delta.commit_failures;
    logger.warn("commit failed, retried with the next one: {}", s.ToString());
  }
}

// One batch from Poll, taken through handle -> publish -> dead-letter -> commit.
class BatchRun {
 public:
  struct Env {
    const std::map<std::string, std::vector<ActiveHandler>, std::less<>>* by_topic;
    Producer* producer;
    DeadLetterPublisher* dlq;
    Consumer* consumer;
    spdlog::logger* logger;
    Metrics* metrics;  // may be null
    const RouterConfig* config;
    // Processed positions not committed yet (a refused commit is retried with the next one).
    Uncommitted* uncommitted;
    // Exactly-once mode: the batch is one transaction; the caller commits it (no Commit here), and
    // what cannot be part of a committed transaction aborts the batch (Process returns why).
    bool transactional = false;
  };

  BatchRun(const Env& env, std::vector<ReceivedMessage>& batch) : env_(env), batch_(batch) {
    records_.resize(batch.size());
  }

  // Returns the counts to add once the batch is committed (or an error: nothing committed; in
  // transactional mode, the reason to abort the transaction).
  absl::Status Process(RouterStats& delta) {
    MarkSkipped(delta);
    for (size_t i = 0; i < batch_.size() && abort_.ok(); ++i) {
      if (records_[i].skipped) continue;
      Dispatch(i, delta);
    }
    // Also after an abort request: the outputs already sent are in the log before the abort
    // (what read_committed readers must not see).
    WaitForOutputs(delta);
    absl::Status dead_letters = WaitForDeadLetters(delta);
    if (!abort_.ok()) return abort_;
    if (!dead_letters.ok()) return dead_letters;
    for (const auto& r : records_) {
      if (!r.skipped && !r.dead_lettered) ++delta.handled;
    }
    if (!env_.transactional) Commit(delta);
    return absl::OkStatus();
  }

 private:
  struct RecordState {
    bool skipped = false;
    bool dead_lettered = false;
    std::vector<std::future<DeliveryReport>> outputs;
  };
  struct PendingDeadLetter {
    size_t record;
    std::future<DeliveryReport> report;
  };

  void MarkSkipped(RouterStats& delta) {
    if (!env_.config->skip_to_latest) return;
    std::map<PartitionKey, size_t> newest;
    for (size_t i = 0; i < batch_.size(); ++i) {
      PartitionKey key{std::string(batch_[i].topic()), batch_[i].partition()};
      auto [it, inserted] = newest.emplace(std::move(key), i);
      if (inserted) continue;
      size_t& kept = it->second;
      if (batch_[i].offset() > batch_[kept].offset()) {
        records_[kept].skipped = true;
        kept = i;
      } else {
        records_[i].skipped = true;
      }
      ++delta.skipped;
    }
    if (env_.metrics && delta.skipped) env_.metrics->Add(Counter::kSkipped, delta.skipped);
  }

  void DeadLetter(size_t i, std::string_view reason, const absl::Status& error) {
    records_[i].dead_lettered = true;
    env_.logger->warn("dead-lettering {} ({}): {}", Where(batch_[i]), reason, error.ToString());
    dead_letters_.push_back({i, env_.dlq->PublishAsync(batch_[i], reason, error)});
  }

  void Dispatch(size_t i, RouterStats& delta) {
    ReceivedMessage& record = batch_[i];
    // CONSUMER span of the record (empty when tracing is off); the handler spans, the outputs'
    // PRODUCER spans and a dead-letter publish below are its children.
    tracing::Span process = tracing::StartProcess(record, env_.consumer->group_id());
    if (!record.decode_status().ok() || record.message() == nullptr) {
      process.SetError(record.decode_status().ok()
                           ? absl::InvalidArgumentError("no decoded message")
                           : record.decode_status());
      DeadLetter(i, dead_letter_reason::DecodeFailureReason(record.decode_status()),
                 record.decode_status().ok() ? absl::InvalidArgumentError("no decoded message")
                                             : record.decode_status());
      return;
    }
    auto it = env_.by_topic->find(record.topic());
    if (it == env_.by_topic->end()) return;  // not ours (cannot happen: we subscribe to these)
    for (const ActiveHandler& h : it->second) {
      tracing::Span handle = tracing::StartInternal("handle ", h.name);
      HandlerResult result = Call(h, record, delta);
      if (!result.ok()) {
        handle.SetError(result.status());
        process.SetError(result.status());
        ++delta.handler_errors;
        if (env_.transactional && TransactionMustAbort(result.status())) {
          abort_ = WithContext(result.status(), absl::StrCat("handler ", AsAbsl(h.name), " on ",
                                                             Where(record), " asked to abort"));
          return;
        }
        DeadLetter(i, dead_letter_reason::kHandler,
                   WithContext(result.status(), absl::StrCat("handler ", AsAbsl(h.name))));
        return;  // the record is parked; its remaining handlers see it when it is replayed
      }
      for (Outgoing& out : *result) Publish(i, record, out);
    }
  }

  HandlerResult Call(const ActiveHandler& h, ReceivedMessage& record, RouterStats& delta) {
    const uint64_t retries_before = tls_chain.retries;
    tls_chain.handler_name = h.name;
    HandlerResult result = absl::UnknownError("handler did not run");
    try {
      result = h.chain(record);
    } catch (const std::exception& e) {
      result = absl::InternalError(absl::StrCat("handler threw: ", e.what()));
    } catch (...) {
      result = absl::InternalError("handler threw a non-std exception");
    }
    tls_chain.handler_name = {};
    delta.retries += tls_chain.retries - retries_before;
    return result;
  }

  void Publish(size_t i, const ReceivedMessage& record, Outgoing& out) {
    std::future<DeliveryReport> report;
    if (out.message == nullptr || out.topic.empty()) {
      std::promise<DeliveryReport> failed;
      DeliveryReport r;
      r.topic = out.topic;
      r.status = absl::InvalidArgumentError(
          absl::StrCat("handler output without ", out.message ? "a topic" : "a message"));
      failed.set_value(std::move(r));
      records_[i].outputs.push_back(failed.get_future());
      return;
    }
    const bool derive = out.trace == OutgoingTrace::kDerived ||
                        (out.trace == OutgoingTrace::kDefault && env_.config->propagate_trace);
    SendOptions options = derive ? SendOptions::DerivedFrom(record) : SendOptions{};
    if (out.key) options.key = std::string_view(*out.key);
    if (out.partition) options.partition = *out.partition;
    if (!out.headers.empty()) options.headers = &out.headers;
    records_[i].outputs.push_back(
        env_.producer->SendMessageAsync(out.topic, *out.message, out.encoding, std::move(options)));
  }

  // Waits for every output; a record with an undelivered output goes to the DLQ ("publish").
  void WaitForOutputs(RouterStats& delta) {
    const auto deadline = SteadyClock::now() + env_.config->publish_timeout;
    for (size_t i = 0; i < records_.size(); ++i) {
      absl::Status first_error;
      for (auto& f : records_[i].outputs) {
        if (f.wait_until(deadline) != std::future_status::ready) {
          if (first_error.ok()) {
            first_error = absl::DeadlineExceededError(absl::StrCat(
                "output not acknowledged within ", env_.config->publish_timeout.count(), " ms"));
          }
          continue;
        }
        DeliveryReport r = f.get();
        if (r.status.ok()) {
          ++delta.published;
        } else if (first_error.ok()) {
          first_error = WithContext(r.status, absl::StrCat("output to ", r.topic));
        }
      }
      if (first_error.ok()) continue;
      if (env_.transactional) {  // a transaction with a failed write cannot commit
        if (abort_.ok())
          abort_ = WithContext(first_error, absl::StrCat("output of ", Where(batch_[i])));
      } else {
        DeadLetter(i, dead_letter_reason::kPublish, first_error);
      }
    }
  }

  absl::Status WaitForDeadLetters(RouterStats& delta) {
    const auto deadline = SteadyClock::now() + env_.dlq->config().delivery_timeout;
    absl::Status first_error;
    for (auto& d : dead_letters_) {
      const ReceivedMessage& record = batch_[d.record];
      if (d.report.wait_until(deadline) != std::future_status::ready) {
        if (first_error.ok()) {
          first_error = absl::DeadlineExceededError(absl::StrCat(
              "dead-letter of ", Where(record), " to ", env_.dlq->TopicFor(record.topic()),
              " not acknowledged within ", env_.dlq->config().delivery_timeout.count(), " ms"));
        }
        continue;
      }
      DeliveryReport r = d.report.get();
      if (r.status.ok()) {
        ++delta.dead_lettered;
      } else if (first_error.ok()) {
        first_error =
            WithContext(r.status, absl::StrCat("dead-letter of ", Where(record), " to ",
                                               env_.dlq->TopicFor(record.topic()), " failed"));
      }
    }
    return first_error;
  }

  void Commit(RouterStats& delta) {
    for (const ReceivedMessage& r : batch_) {
      int64_t& n = env_.uncommitted->next[{std::string(r.topic()), r.partition()}];
      n = std::max(n, r.offset() + 1);
    }
    CommitUncommitted(*env_.consumer, *env_.uncommitted, *env_.logger, delta);
  }

  const Env& env_;
  std::vector<ReceivedMessage>& batch_;
  std::vector<RecordState> records_;
  std::vector<PendingDeadLetter> dead_letters_;
  absl::Status abort_;  // transactional mode: why the batch's transaction must be aborted
};

}  // namespace

absl::Status Router::Run(std::stop_token stop) {
  bool expected = false;
  if (!running_.compare_exchange_strong(expected, true)) {
    return absl::FailedPreconditionError("router: already running");
  }
  struct Reset {
    Router* r;
    ~Reset() {
      r->consumer_.store(nullptr);
      r->stop_requested_.store(false);
      r->running_.store(false);
    }
  } reset{this};
  if (handlers_.empty()) return absl::InvalidArgumentError("router: no handlers");

  // Handler chains: router-wide middleware outside, the handler's own inside; first added
  // outermost.
  std::map<std::string, std::vector<ActiveHandler>, std::less<>> by_topic;
  std::set<std::string> topics;
  for (const HandlerEntry& h : handlers_) {
    Handler chain = h.handler;
    for (auto it = h.middleware.rbegin(); it != h.middleware.rend(); ++it) chain = (*it)(chain);
    for (auto it = middleware_.rbegin(); it != middleware_.rend(); ++it) chain = (*it)(chain);
    if (!chain) {
      return absl::InvalidArgumentError(
          absl::StrCat("router: middleware returned an empty handler for ", h.name));
    }
    for (const std::string& t : h.topics) {
      by_topic[t].push_back({h.name, chain});
      topics.insert(t);
    }
  }

  if (!config_.consumer.assignment.empty()) {
    return absl::InvalidArgumentError(
        "router: RouterConfig::consumer.assignment must be empty (the router joins a group)");
  }
  ConsumerConfig cc = RouterConsumerConfig(config_);
  cc.topics.assign(topics.begin(), topics.end());
  cc.commit = CommitMode::kManual;
  cc.decode = true;
  if (cc.registry == nullptr) cc.registry = &owned_registry_;
  std::shared_ptr<spdlog::logger> logger =
      config_.client.logger ? config_.client.logger : spdlog::default_logger();

  DeadLetterConfig dc = config_.dead_letter;
  if (!dc.metrics) dc.metrics = config_.client.metrics;
  // Exactly-once: a transactional producer (and its dead-letter publisher) that the transactions
  // may replace; at-least-once: one producer, ours or borrowed.
  std::unique_ptr<internal::RouterTransactions> transactions;
  std::unique_ptr<Producer> owned_producer;
  std::unique_ptr<DeadLetterPublisher> owned_dlq;
  Producer* producer = nullptr;
  if (config_.exactly_once) {
    if (config_.producer_instance != nullptr) {
      return absl::InvalidArgumentError(
          "router: exactly_once needs the router's own transactional producer "
          "(RouterConfig::producer_instance must be null)");
    }
    auto level = cc.properties.find("isolation.level");
    if (level != cc.properties.end() && level->second != "read_committed") {
      return absl::InvalidArgumentError(absl::StrCat(
          "router: exactly_once reads read_committed, not isolation.level=", level->second));
    }
    cc.properties["isolation.level"] = "read_committed";
    transactions = std::make_unique<internal::RouterTransactions>(
        RouterProducerConfig(config_), std::move(dc), *config_.exactly_once, *logger);
    if (absl::Status s = transactions->Start(); !s.ok()) return s;
  } else {
    producer = config_.producer_instance;
    if (producer == nullptr) {
      auto p = Producer::Create(RouterProducerConfig(config_));
      if (!p.ok()) return p.status();
      owned_producer = std::move(*p);
      producer = owned_producer.get();
    }
    owned_dlq = std::make_unique<DeadLetterPublisher>(*producer, std::move(dc));
  }

  auto consumer_or = Consumer::Create(std::move(cc));
  if (!consumer_or.ok()) return consumer_or.status();
  std::unique_ptr<Consumer> consumer = std::move(*consumer_or);
  consumer_.store(consumer.get());
  logger->info("router: consuming {} topic(s) with {} handler(s) in group {}", topics.size(),
               handlers_.size(), consumer->group_id());

  Uncommitted uncommitted;
  BatchRun::Env env;
  env.by_topic = &by_topic;
  env.producer = transactions ? &transactions->producer() : producer;
  env.dlq = transactions ? &transactions->dead_letters() : owned_dlq.get();
  env.transactional = transactions != nullptr;
  env.consumer = consumer.get();
  env.logger = logger.get();
  env.metrics = config_.client.metrics.get();
  env.config = &config_;
  env.uncommitted = &uncommitted;
  auto add = [this](const RouterStats& delta) {
    counters_->handled += delta.handled;
    counters_->dead_lettered += delta.dead_lettered;
    counters_->skipped += delta.skipped;
    counters_->published += delta.published;
    counters_->handler_errors += delta.handler_errors;
    counters_->retries += delta.retries;
    counters_->commits += delta.commits;
    counters_->commit_failures += delta.commit_failures;
  };
  // Exactly-once: one batch as one transaction (router.h). Returns an error only when the router
  // must stop (the producer is unusable); an aborted transaction is not one: its records come
  // again from Poll (rewound).
  uint64_t sequence = 0;
  auto run_transaction = [&](std::vector<ReceivedMessage>& batch) -> absl::Status {
    std::map<PartitionKey, std::pair<int64_t, int64_t>> range;  // first, next offset
    for (const ReceivedMessage& m : batch) {
      auto [it, fresh] =
          range.try_emplace({std::string(m.topic()), m.partition()}, m.offset(), m.offset() + 1);
      if (!fresh) {
        it->second.first = std::min(it->second.first, m.offset());
        it->second.second = std::max(it->second.second, m.offset() + 1);
      }
    }
    TransactionOutcome outcome;
    outcome.sequence = sequence++;
    outcome.records = batch.size();
    if (absl::Status s = transactions->Begin(); !s.ok()) return s;
    transaction_ = outcome.sequence;
    RouterStats delta;
    BatchRun run(env, batch);
    absl::Status s = run.Process(delta);
    bool in_commit = false;
    if (s.ok()) {
      std::vector<TopicPartition> next;
      for (const auto& [key, r] : range) next.push_back({key.first, key.second, r.second});
      in_commit = true;
      s = transactions->Commit(next, *consumer);
    }
    transaction_.reset();
    outcome.committed = s.ok();
    outcome.status = s;
    if (s.ok()) {
      ++delta.commits;
      add(delta);
      if (config_.exactly_once->on_outcome) config_.exactly_once->on_outcome(outcome);
      return absl::OkStatus();
    }
    // Aborted: only what happened regardless counts (handler errors and retries).
    RouterStats happened;
    happened.handler_errors = delta.handler_errors;
    happened.retries = delta.retries;
    add(happened);
    ++counters_->aborted_transactions;
    if (config_.exactly_once->on_outcome) config_.exactly_once->on_outcome(outcome);
    // A handler's abort request is the handler's business; anything else is worth a warning.
    logger->log(TransactionMustAbort(s) && !in_commit ? spdlog::level::info : spdlog::level::warn,
                "router: transaction {} aborted: {}", outcome.sequence, s.ToString());
    bool renewed = false;
    if (absl::Status a = transactions->Abort(s, in_commit, renewed); !a.ok()) return a;
    if (renewed) ++counters_->producer_renewals;
    for (const auto& [key, r] : range) {
      // Without waiting for the partition's fetcher (stuck while the partition's leader is down);
      // the seek takes effect before the partition's next records are handed out.
      absl::Status seek =
          consumer->Seek({key.first, key.second, r.first}, std::chrono::milliseconds(0));
      if (!seek.ok()) {  // revoked meanwhile: its next owner reads it from the committed offset
        logger->warn("router: rewinding {}[{}]: {}", key.first, key.second, seek.ToString());
      }
    }
    return absl::OkStatus();
  };

  absl::Status result;
  while (!stop.stop_requested() && !stop_requested_.load()) {
    auto batch = consumer->Poll(config_.poll_timeout);
    if (!batch.ok()) {
      if (IsRetriable(batch.status()) && !IsFatal(batch.status())) {
        logger->warn("router: poll: {}", batch.status().ToString());
        continue;
      }
      result = batch.status();
      break;
    }
    RouterStats delta;
    if (batch->empty()) {
      if (SteadyClock::now() - uncommitted.last_attempt >= std::chrono::seconds(1)) {
        CommitUncommitted(*consumer, uncommitted, *logger, delta);  // retry a refused commit
        add(delta);
      }
      continue;
    }
    counters_->received += batch->size();
    if (transactions) {
      // Handles the batch as one transaction; an aborted one is polled and handled again.
      env.producer = &transactions->producer();
      env.dlq = &transactions->dead_letters();
      if (absl::Status s = run_transaction(*batch); !s.ok()) {
        logger->error("router: stopping: {}", s.ToString());
        result = s;
        break;
      }
    } else {
      BatchRun run(env, *batch);
      absl::Status s = run.Process(delta);
      add(delta);
      if (!s.ok()) {
        logger->error("router: stopping without committing the batch: {}", s.ToString());
        result = s;
        break;
      }
    }
    if (config_.max_records > 0 &&
        counters_->handled.load() + counters_->dead_lettered.load() >= config_.max_records) {
      logger->info("router: {} records processed, stopping", config_.max_records);
      break;
    }
  }
  if (result.ok() && !transactions &&
      !uncommitted.last_failed) {  // a failing commit is not retried on the way out
    RouterStats delta;
    CommitUncommitted(*consumer, uncommitted, *logger, delta);
    add(delta);
  }
  consumer_.store(nullptr);
  if (absl::Status s = consumer->Close(config_.close_timeout); !s.ok()) {
    logger->warn("router: consumer close: {}", s.ToString());
  }
  logger->info("router: stopped ({})", result.ok() ? std::string("ok") : result.ToString());
  return result;
}

namespace middleware {

Middleware Retry(int max_attempts, std::chrono::milliseconds initial_backoff,
                 std::chrono::milliseconds max_backoff) {
  return Retry(RetryPolicy{max_attempts, initial_backoff, max_backoff, nullptr});
}

Middleware Retry(RetryPolicy policy) {
  policy.max_attempts = std::max(1, policy.max_attempts);
  policy.initial_backoff = std::max(policy.initial_backoff, std::chrono::milliseconds(0));
  policy.max_backoff = std::max(policy.max_backoff, policy.initial_backoff);
  if (!policy.sleep) {
    policy.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
  }
  return [policy = std::move(policy)](Handler next) -> Handler {
    return [policy, next = std::move(next)](ReceivedMessage& record) -> HandlerResult {
      struct Restore {
        int saved = tls_chain.attempt;
        ~Restore() { tls_chain.attempt = saved; }
      } restore;
      std::chrono::milliseconds backoff = policy.initial_backoff;
      for (int attempt = 1;; ++attempt) {
        tls_chain.attempt = attempt;
        HandlerResult result = next(record);
        if (result.ok() || attempt >= policy.max_attempts) return result;
        ++tls_chain.retries;
        if (backoff.count() > 0) policy.sleep(backoff);
        backoff = std::min(backoff * 2, policy.max_backoff);
      }
    };
  };
}

Middleware PropagateTrace() {
  return [](Handler next) -> Handler {
    return [next = std::move(next)](ReceivedMessage& record) -> HandlerResult {
      HandlerResult result = next(record);
      if (result.ok()) {
        for (Outgoing& out : *result) {
          if (out.trace == OutgoingTrace::kDefault) out.trace = OutgoingTrace::kDerived;
        }
      }
      return result;
    };
  };
}

Middleware Logging(std::shared_ptr<spdlog::logger> logger) {
  return [logger = std::move(logger)](Handler next) -> Handler {
    return [logger, next = std::move(next)](ReceivedMessage& record) -> HandlerResult {
      spdlog::logger& log = logger ? *logger : *spdlog::default_logger();
      const TraceContext& trace = record.trace();
      logging::ScopedLogContext context(trace.trace_id(), trace.span_id(), record.topic(),
                                        record.partition(), record.offset());
      const std::string_view name = tls_chain.handler_name;
      const auto start = SteadyClock::now();
      HandlerResult result = next(record);
      const double ms =
          std::chrono::duration<double, std::milli>(SteadyClock::now() - start).count();
      if (result.ok()) {
        log.debug("handler {} done in {:.3f} ms: {} output(s)", name, ms, result->size());
      } else {
        log.warn("handler {} failed after {:.3f} ms: {}", name, ms, result.status().ToString());
      }
      return result;
    };
  };
}

Middleware Metrics(std::shared_ptr<messagecorps::Metrics> metrics) {
  return [metrics = std::move(metrics)](Handler next) -> Handler {
    return [metrics, next = std::move(next)](ReceivedMessage& record) -> HandlerResult {
      const uint64_t retries_before = tls_chain.retries;
      const bool is_repeat = tls_chain.attempt > 1;
      const auto start = SteadyClock::now();
      HandlerResult result = next(record);
      if (metrics) {
        metrics->ObserveHandlerSeconds(
            std::chrono::duration<double>(SteadyClock::now() - start).count());
        if (!result.ok()) metrics->Add(Counter::kHandlerErrors);
        const uint64_t retries = tls_chain.retries - retries_before + (is_repeat ? 1 : 0);
        if (retries > 0) metrics->Add(Counter::kRetries, retries);
      }
      return result;
    };
  };
}

}  // namespace middleware

}  // namespace messagecorps
