#include "messagecorps/consumer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client_core.h"
#include "consumer_group_handle.h"
#include "fetch_waker.h"
#include "message_pool.h"
#include "messagecorps/envelope.h"
#include "messagecorps/error.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"
#include "messagecorps/type_registry.h"
#include "messagecorps/version.h"
#include "rdkafka_handles.h"
#include "received_message_access.h"

namespace messagecorps {

namespace {

using SteadyClock = std::chrono::steady_clock;
using PartitionKey = std::pair<std::string, int32_t>;

std::vector<TopicPartition> ToVector(const rd_kafka_topic_partition_list_t* list) {
  std::vector<TopicPartition> out;
  if (list == nullptr) return out;
  out.reserve(list->cnt);
  for (int i = 0; i < list->cnt; ++i) {
    out.push_back({list->elems[i].topic, list->elems[i].partition, list->elems[i].offset});
  }
  return out;
}

internal::PartitionListHandle ToList(const std::vector<TopicPartition>& parts) {
  internal::PartitionListHandle list(
      rd_kafka_topic_partition_list_new(static_cast<int>(parts.size())));
  for (const auto& p : parts) {
    rd_kafka_topic_partition_list_add(list.get(), p.topic.c_str(), p.partition)->offset = p.offset;
  }
  return list;
}

// The first per-partition error of a list returned by commit/store, as a status.
absl::Status ListError(const rd_kafka_topic_partition_list_t* list, std::string_view what) {
  for (int i = 0; list && i < list->cnt; ++i) {
    if (list->elems[i].err) {
      return KafkaError(list->elems[i].err, absl::StrCat(AsAbsl(what), " ", list->elems[i].topic,
                                                         "[", list->elems[i].partition, "]"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

namespace {

void LogReceivedRecord(spdlog::logger& logger, const ReceivedMessage& r) {
  std::string uuid;
  double timestamp = 0;
  if (const google::protobuf::Message* m = r.message()) {
    if (const google::protobuf::Message* env = EnvelopeOf(*m)) {
      const auto* d = env->GetDescriptor();
      const auto* refl = env->GetReflection();
      if (const auto* f = d->FindFieldByName("uuid")) uuid = refl->GetString(*env, f);
      if (const auto* f = d->FindFieldByName("timestamp")) timestamp = refl->GetDouble(*env, f);
    }
  }
  logging::LogReceived(logger, r.topic(), r.partition(), r.offset(), uuid, timestamp);
}

}  // namespace

struct Consumer::Impl : internal::ClientCore {
  absl::Status PauseOrResume(const std::vector<TopicPartition>& partitions, bool pause);

  ConsumerConfig config;
  internal::KafkaHandle rk;
  internal::QueueHandle queue;
  TypeRegistry seed_registry;
  const TypeRegistry* registry = nullptr;

  mutable std::mutex mu;
  bool closed = false;
  std::optional<SteadyClock::time_point> close_deadline;  // set while Close runs
  bool assigned_manually = false;  // ConsumerConfig::assignment: no group, no commits
  std::set<PartitionKey> assigned;
  std::set<PartitionKey> at_end;
  // Next offset to store per partition for the records handed out by the last Poll (kAuto).
  std::map<PartitionKey, int64_t> to_store;
  // Next offset after everything handed out so far (CommitAll).
  std::map<PartitionKey, int64_t> consumed;
  std::vector<rd_kafka_message_t*> batch;
  MessagePool pool;
  // Poll may take queued records with rd_kafka_consume_batch_queue (see Poll). Always with
  // librdkafka 2.1 or later (BatchPollAlwaysSafe()); before: false from the start with a
  // cooperative assignment strategy, and for good after Pause, Resume or Seek.
  bool batch_fetch_safe = true;
  // Restarts a fetcher that stopped at a full queue (fetch_waker.h).
  std::optional<internal::FetchWaker> waker;
  // connection_failures when Poll last returned a connection failure.
  uint64_t connection_failures_returned = 0;

  ~Impl() {
    // Close() has left the group (or given up within its timeout): do not let destroy try again and
    // block.
    waker.reset();
    queue.reset();
    if (rk) rd_kafka_destroy_flags(rk.release(), RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
  }

  static void RebalanceTrampoline(rd_kafka_t* rk, rd_kafka_resp_err_t err,
                                  rd_kafka_topic_partition_list_t* parts, void* opaque) {
    auto* impl = static_cast<Impl*>(static_cast<internal::ClientCore*>(opaque));
    try {
      impl->OnRebalance(rk, err, parts);
    } catch (const std::exception& e) {
      impl->logger->error("rebalance hook threw: {}", e.what());
    } catch (...) {
      impl->logger->error("rebalance hook threw a non-std exception");
    }
  }

  // Runs inside Poll/Close with `mu` held.
  void OnRebalance(rd_kafka_t* handle, rd_kafka_resp_err_t err,
                   rd_kafka_topic_partition_list_t* parts) {
    const bool cooperative = std::strcmp(rd_kafka_rebalance_protocol(handle), "COOPERATIVE") == 0;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
      for (int i = 0; i < parts->cnt; ++i) {
        assigned.insert({parts->elems[i].topic, parts->elems[i].partition});
      }
      logger->info("{}: assigned {} partition(s)", config.group_id, parts->cnt);
      if (config.on_assign) config.on_assign(ToVector(parts));
      rd_kafka_error_t* e = nullptr;
      if (cooperative) {
        e = rd_kafka_incremental_assign(handle, parts);
      } else {
        rd_kafka_assign(handle, parts);
      }
      if (e) {
        logger->error("incremental assign failed: {}", rd_kafka_error_string(e));
        rd_kafka_error_destroy(e);
      }
      return;
    }
    if (err == RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS) {
      if (config.on_revoke) config.on_revoke(ToVector(parts));
      if (config.commit == CommitMode::kAuto) {
        StorePending();
        // Commit what was processed before the partitions go to another member (within Close's
        // deadline when closing).
        auto wait = kCommitTimeout;
        if (close_deadline) {
          wait = std::max(std::chrono::milliseconds(0),
                          std::chrono::duration_cast<std::chrono::milliseconds>(
                              *close_deadline - SteadyClock::now()));
        }
        if (absl::Status c = CommitAndWait(nullptr, wait); !c.ok()) {
          logger->warn("commit on revoke failed: {}", c.ToString());
        }
      }
      for (int i = 0; i < parts->cnt; ++i) {
        PartitionKey key{parts->elems[i].topic, parts->elems[i].partition};
        assigned.erase(key);
        at_end.erase(key);
        to_store.erase(key);
        consumed.erase(key);
      }
      logger->info("{}: revoked {} partition(s)", config.group_id, parts->cnt);
      if (cooperative) {
        rd_kafka_error_t* e = rd_kafka_incremental_unassign(handle, parts);
        if (e) rd_kafka_error_destroy(e);
      } else {
        rd_kafka_assign(handle, nullptr);
      }
      return;
    }
    logger->error("rebalance error: {}", rd_kafka_err2str(err));
    assigned.clear();
    rd_kafka_assign(handle, nullptr);
  }

  // Stores (for auto commit) the offsets of the records handed out by the previous Poll, for the
  // partitions still owned.
  void StorePending() {
    if (to_store.empty()) return;
    internal::PartitionListHandle list(
        rd_kafka_topic_partition_list_new(static_cast<int>(to_store.size())));
    for (const auto& [key, offset] : to_store) {
      if (!assigned.count(key)) continue;
      rd_kafka_topic_partition_list_add(list.get(), key.first.c_str(), key.second)->offset = offset;
    }
    to_store.clear();
    if (list->cnt == 0) return;
    rd_kafka_resp_err_t err = rd_kafka_offsets_store(rk.get(), list.get());
    if (err) logger->warn("storing offsets failed: {}", rd_kafka_err2str(err));
  }

  // Commits need a group: an explicit assignment has none.
  absl::Status CheckGroup() const {
    if (!assigned_manually) return absl::OkStatus();
    return absl::FailedPreconditionError(
        "commit refused: this consumer reads an explicit assignment without a group");
  }

  absl::Status CommitList(rd_kafka_topic_partition_list_t* list, bool async) {
    for (int i = 0; i < list->cnt; ++i) {
      if (!assigned.count({list->elems[i].topic, list->elems[i].partition})) {
        return absl::FailedPreconditionError(
            absl::StrCat("commit refused: ", list->elems[i].topic, "[", list->elems[i].partition,
                         "] is not assigned to this consumer (revoked in a rebalance?)"));
      }
    }
    if (!async) return CommitAndWait(list, kCommitTimeout);
    rd_kafka_resp_err_t err = rd_kafka_commit(rk.get(), list, 1);
    if (err) return KafkaError(err, "commit", true);
    return absl::OkStatus();
  }

  // A synchronous commit that gives up after `timeout`. rd_kafka_commit(sync) waits for the group
  // coordinator without any bound: with every broker down it blocked forever (a router stopping,
  // Close committing on revoke). `list` null: the stored offsets. The commit may still complete
  // after a timeout.
  static constexpr std::chrono::milliseconds kCommitTimeout{10000};
  //
  // A commit refused because the group is rebalancing (REBALANCE_IN_PROGRESS: we joined the new
  // generation but its assignment is not synced yet; ILLEGAL_GENERATION: the others moved to a
  // new generation we have not joined yet) is sent again until `timeout` when the rebalance is
  // cooperative on librdkafka 2.10 or later. There the member keeps its partitions through the
  // rebalance (and keeps processing them), and librdkafka completes its rejoin in the background
  // without dropping them (PR #4908), so the same commit is accepted a moment later; Kafka's Java
  // consumer calls this a retriable commit failure too. Without the retry the commit was lost:
  // consumer_group_test's churn case saw 2 refused commits per run on librdkafka 2.14.2, and a
  // partition revoked before the next commit would have been processed twice by its new owner.
  // Our partitions cannot be revoked meanwhile: revocation runs in OnRebalance, under `mu`.
  absl::Status CommitAndWait(const rd_kafka_topic_partition_list_t* list,
                             std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    const bool retry_refusals =
        LibrdkafkaAtLeast(2, 10) &&
        std::strcmp(rd_kafka_rebalance_protocol(rk.get()), "COOPERATIVE") == 0;
    auto backoff = std::chrono::milliseconds(20);
    for (int attempt = 1;; ++attempt) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      absl::Status s = CommitOnce(list, std::max(left, std::chrono::milliseconds(1)));
      if (!retry_refusals || GetErrorReason(s) != ErrorReason::kRebalance ||
          GetErrorDetail(s)->kafka_code == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID ||
          SteadyClock::now() + backoff >= deadline) {
        return s;
      }
      ++commits_retried;
      logger->debug(
          "{}: commit refused during a cooperative rebalance (attempt {}): {}; again in "
          "{} ms",
          config.group_id, attempt, std::string(s.message()), backoff.count());
      std::this_thread::sleep_for(backoff);
      backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
    }
  }
  uint64_t commits_retried = 0;  // for tests and logs

  absl::Status CommitOnce(const rd_kafka_topic_partition_list_t* list,
                          std::chrono::milliseconds timeout) {
    internal::QueueHandle result(rd_kafka_queue_new(rk.get()));
    rd_kafka_resp_err_t err = rd_kafka_commit_queue(rk.get(), list, result.get(), nullptr, nullptr);
    if (err) return KafkaError(err, "commit", true);
    internal::EventHandle ev(rd_kafka_queue_poll(result.get(), static_cast<int>(timeout.count())));
    if (!ev) {
      return MakeError(
          absl::StatusCode::kDeadlineExceeded,
          absl::StrCat("commit: no answer from the group coordinator within ", timeout.count(),
                       " ms (broker unreachable?)"),
          ErrorDetail{RD_KAFKA_RESP_ERR__TIMED_OUT, true, false, ErrorReason::kTimeout});
    }
    err = rd_kafka_event_error(ev.get());
    if (err == RD_KAFKA_RESP_ERR__NO_OFFSET) return absl::OkStatus();  // nothing to commit
    if (err) return KafkaError(err, "commit", true);
    return ListError(rd_kafka_event_topic_partition_list(ev.get()), "commit");
  }
};

namespace {

// Checks an explicit assignment and derives the topic list from it.
absl::Status CheckAssignment(ConsumerConfig& config) {
  std::set<std::string> topics;
  for (const TopicPartition& p : config.assignment) {
    if (p.topic.empty()) return absl::InvalidArgumentError("consumer: empty topic in assignment");
    if (p.partition < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("consumer: assignment of ", p.topic, " has a negative partition"));
    }
    const bool logical =
        p.offset == kOffsetBeginning || p.offset == kOffsetEnd || p.offset <= OffsetFromEnd(0);
    if (p.offset < 0 && !logical) {
      return absl::InvalidArgumentError(absl::StrCat("consumer: assignment of ", p.topic, "[",
                                                     p.partition, "]: invalid start offset ",
                                                     p.offset));
    }
    topics.insert(p.topic);
  }
  for (const std::string& t : config.topics) {
    if (!topics.count(t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("consumer: topic ", t, " has no partition in the assignment"));
    }
  }
  config.topics.assign(topics.begin(), topics.end());
  // Nothing is ever committed: offsets are not stored either.
  config.commit = CommitMode::kManual;
  return absl::OkStatus();
}

}  // namespace

bool FetchWakerNeeded() { return !LibrdkafkaAtLeast(2, 3); }

bool BatchPollAlwaysSafe() { return LibrdkafkaAtLeast(2, 1); }

std::string DefaultAssignmentStrategy() {
  // 2.10.0 is the first release with librdkafka PR #4908 (see consumer.h).
  return LibrdkafkaAtLeast(2, 10) ? "cooperative-sticky" : "range";
}

absl::StatusOr<std::unique_ptr<Consumer>> Consumer::Create(ConsumerConfig config) {
  const bool manual_assignment = !config.assignment.empty();
  if (manual_assignment) {
    if (absl::Status s = CheckAssignment(config); !s.ok()) return s;
  }
  if (config.topics.empty()) return absl::InvalidArgumentError("consumer: no topics given");
  for (const auto& t : config.topics) {
    if (t.empty()) return absl::InvalidArgumentError("consumer: empty topic name");
  }
  if (config.max_batch < 1) return absl::InvalidArgumentError("consumer: max_batch must be >= 1");
  if (config.group_id.empty()) {
    const char* env = std::getenv("LOG_TAG_GROUP");
    config.group_id = (env && *env) ? env : "NOTSET";
  }
  auto impl = std::make_shared<Impl>();
  internal::InitCore(*impl, config, "consumer");
  impl->seed_registry = TypeRegistry::WithSeedDefaults();
  impl->registry = config.registry ? config.registry : &impl->seed_registry;

  // librdkafka 2.0.2 pauses fetching for ~1 s once queued.min.messages are buffered (librdkafka
  // #2879): a higher count with a byte cap keeps fetching steady and memory bounded. The cap
  // applies per partition: peak RSS ~ partitions x 32 MiB + 20 MB (BENCHMARKS.md, 1M-record
  // backlog).
  std::map<std::string, std::string> defaults = {
      {"group.id", config.group_id},
      {"auto.offset.reset", config.start == StartOffset::kEarliest ? "earliest" : "latest"},
      {"enable.auto.commit", config.commit == CommitMode::kAuto ? "true" : "false"},
      {"enable.auto.offset.store", "false"},
      {"enable.partition.eof", "true"},
      {"partition.assignment.strategy", DefaultAssignmentStrategy()},
      {"reconnect.backoff.max.ms", "10000"},
      {"queued.min.messages", "1000000"},
      {"queued.max.messages.kbytes", "32768"},
  };
  // librdkafka 2.3 and later stop fetching a partition whose local queue is full for
  // fetch.queue.backoff.ms (default 1000) by a timer on the partition: no wake-up shortens it, so
  // the fetch waker cannot help there, and a consumer slower than its fetcher idled up to 1 s per
  // queue-full (scripts/bench on 2.14.2: 1M-record backlog at 240k msg/s against 688k on 2.0.2).
  // 10 ms lets the fetcher look again soon after Poll made room; each look is a local check.
  // Before 2.3 the fetch waker (below) restarts the fetcher instead.
  if (!FetchWakerNeeded()) defaults["fetch.queue.backoff.ms"] = "10";
  {
    auto strategy = config.properties.find("partition.assignment.strategy");
    const std::string& value = strategy != config.properties.end()
                                   ? strategy->second
                                   : defaults.at("partition.assignment.strategy");
    impl->batch_fetch_safe =
        BatchPollAlwaysSafe() || value.find("cooperative") == std::string::npos;
  }
  auto conf = internal::BuildConf(config, defaults, impl.get());
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_rebalance_cb(conf->get(), &Impl::RebalanceTrampoline);

  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf->get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("consumer: ", RedactSecrets(errstr, config.properties)));
  }
  // The queue bounds, as librdkafka will apply them, for the fetch waker.
  auto conf_int = [&](const char* name) {
    char value[64];
    size_t size = sizeof value;
    if (rd_kafka_conf_get(conf->get(), name, value, &size) != RD_KAFKA_CONF_OK) return int64_t{0};
    return static_cast<int64_t>(std::strtoll(value, nullptr, 10));
  };
  const int64_t queue_max_bytes = conf_int("queued.max.messages.kbytes") * 1024;
  const int64_t queue_max_records = conf_int("queued.min.messages");
  (void)conf->release();
  impl->rk.reset(rk);
  impl->name = rd_kafka_name(rk);
  if (FetchWakerNeeded()) impl->waker.emplace(rk, queue_max_bytes, queue_max_records);
  rd_kafka_poll_set_consumer(rk);
  impl->queue.reset(rd_kafka_queue_get_consumer(rk));

  if (manual_assignment) {
    // librdkafka needs a group.id for assign() but does not join the group for it.
    auto list = ToList(config.assignment);
    rd_kafka_resp_err_t err = rd_kafka_assign(rk, list.get());
    if (err) return KafkaError(err, "consumer: assign");
    impl->assigned_manually = true;
    for (const TopicPartition& p : config.assignment) impl->assigned.insert({p.topic, p.partition});
  } else {
    internal::PartitionListHandle topics(
        rd_kafka_topic_partition_list_new(static_cast<int>(config.topics.size())));
    for (const auto& t : config.topics) {
      rd_kafka_topic_partition_list_add(topics.get(), t.c_str(), RD_KAFKA_PARTITION_UA);
    }
    rd_kafka_resp_err_t err = rd_kafka_subscribe(rk, topics.get());
    if (err) return KafkaError(err, "consumer: subscribe");
  }
  impl->batch.resize(static_cast<size_t>(config.max_batch));
  impl->config = std::move(config);
  return std::unique_ptr<Consumer>(new Consumer(std::move(impl)));
}

Consumer::Consumer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

Consumer::~Consumer() {
  absl::Status s = Close(std::chrono::seconds(10));
  if (!s.ok()) impl_->logger->warn("consumer close: {}", s.ToString());
}

absl::StatusOr<std::vector<ReceivedMessage>> Consumer::Poll(std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("consumer is closed");
  if (impl_->has_fatal) return impl_->FatalStatus();
  if (impl_->config.commit == CommitMode::kAuto) impl_->StorePending();

  // One record at a time, not rd_kafka_consume_batch_queue(): in librdkafka 2.0.2 the batch call
  // advances a partition's position past records that a pause/resume or a rebalance purges from
  // the queue during the call (they are then never delivered), and cooperative rebalances pause
  // partitions internally — records were lost while members joined (fixed in librdkafka 2.1.0,
  // PR #4208; regression test: ConsumerGroup.MemberJoiningAndLeavingUnderLoad...). Waits up to
  // `timeout` for the first record, then takes only what is already queued.
  // The batch call is used for that rest while it is safe (batch_fetch_safe): always from 2.1.0
  // on; before, when no cooperative rebalance can pause partitions behind our back and nobody
  // paused, resumed or sought — an eager rebalance only revokes, and a reassigned partition
  // restarts from its committed offset, so a position advanced past purged records does not
  // matter there.
  const auto deadline = SteadyClock::now() + timeout;
  if (impl_->waker) {
    if (int woken = impl_->waker->BeforeTake(rd_kafka_queue_length(impl_->queue.get()));
        woken > 0 && impl_->metrics) {
      impl_->metrics->Add(Counter::kFetchWakeups, static_cast<uint64_t>(woken));
    }
  }
  size_t n = 0;
  while (n < impl_->batch.size()) {
    int wait_ms = 0;
    if (n == 0) {
      wait_ms = static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now())
                 .count()));
    }
    rd_kafka_message_t* m = rd_kafka_consume_queue(impl_->queue.get(), wait_ms);
    if (m == nullptr) {
      if (n == 0 && wait_ms > 0 && SteadyClock::now() < deadline) continue;
      break;
    }
    impl_->batch[n++] = m;
    if (n == 1 && impl_->batch_fetch_safe) {
      // The rest of what is queued in one call: a record at a time cost a third of raw
      // librdkafka's consume rate for small records (BENCHMARKS.md, raw/one-per-poll).
      ssize_t more = rd_kafka_consume_batch_queue(impl_->queue.get(), 0, impl_->batch.data() + 1,
                                                  impl_->batch.size() - 1);
      if (more > 0) n += static_cast<size_t>(more);
      break;
    }
  }
  std::vector<ReceivedMessage> out;
  out.reserve(n);
  // Consecutive records mostly come from one partition: its bookkeeping (ownership, end flag,
  // offsets to store) is looked up once per run of records, not per record — four map lookups
  // keyed by a (topic string, partition) pair were a measurable share of a small record's cost.
  // The maps do not change inside this loop (rebalances were served while fetching above).
  const rd_kafka_topic_t* run_topic = nullptr;
  int32_t run_partition = -1;
  bool run_owned = false;
  int64_t* run_to_store = nullptr;
  int64_t* run_consumed = nullptr;
  for (size_t i = 0; i < n; ++i) {
    internal::MessageHandle m(impl_->batch[i]);
    if (m->err) run_topic = nullptr;  // an end-of-partition event changes at_end: look up again
    if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
      impl_->at_end.insert({rd_kafka_topic_name(m->rkt), m->partition});
      continue;
    }
    if (m->err) {
      // Transient consumer errors (e.g. a broker going away, offset out of range): visible,
      // counted, and librdkafka recovers by itself.
      impl_->logger->warn("consume error: {}{}", rd_kafka_message_errstr(m.get()),
                          m->rkt ? absl::StrCat(" (", rd_kafka_topic_name(m->rkt), ")") : "");
      if (impl_->metrics) impl_->metrics->Add(Counter::kClientErrors);
      continue;
    }
    if (impl_->waker) impl_->waker->Taken(*m);
    if (m->rkt != run_topic || m->partition != run_partition) {
      PartitionKey key{rd_kafka_topic_name(m->rkt), m->partition};
      run_topic = m->rkt;
      run_partition = m->partition;
      run_owned = impl_->assigned.count(key) > 0;
      if (run_owned) {
        impl_->at_end.erase(key);
        run_to_store = &impl_->to_store[key];
        run_consumed = &impl_->consumed[key];
      }
    }
    if (!run_owned) {
      // Revoked by a rebalance served later in this same Poll: the new owner reads it from the
      // committed offset, so handing it out would only process it twice.
      continue;
    }
    *run_to_store = m->offset + 1;
    *run_consumed = m->offset + 1;
    ReceivedMessage r = internal::ReceivedMessageAccess::FromKafka(impl_, std::move(m));
    if (impl_->config.decode) {
      internal::ReceivedMessageAccess::Decode(r, *impl_->registry, impl_->config.limits,
                                              &impl_->pool);
    } else {
      internal::ReceivedMessageAccess::TraceFromHeaders(r);
    }
    if (impl_->metrics) {
      impl_->metrics->Add(Counter::kReceived);
      // End-to-end latency: the record's producer timestamp (CreateTime) to now, per topic.
      if (const int64_t produced_ms = r.timestamp_ms(); produced_ms > 0) {
        const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
        impl_->metrics->ObserveEndToEndSeconds(r.topic(),
                                               static_cast<double>(now_ms - produced_ms) / 1e3);
      }
      if (impl_->config.decode) {
        if (r.decode_status().ok()) {
          impl_->metrics->Add(Counter::kDecoded);
        } else {
          impl_->metrics->Add(Counter::kDecodeFailed);
        }
      }
    }
    // The original logged every received message (uuid, timestamp, offset, partition): kept at
    // debug level, and checked first so that it costs nothing when off.
    if (impl_->logger->should_log(spdlog::level::debug)) LogReceivedRecord(*impl_->logger, r);
    out.push_back(std::move(r));
  }
  if (impl_->has_fatal) return impl_->FatalStatus();
  // A new connection failure (wrong credentials, TLS trust, protocol mismatch) is returned once,
  // when this Poll got no records: librdkafka keeps retrying, and a later Poll goes on.
  if (out.empty()) {
    const uint64_t failures = impl_->connection_failures.load(std::memory_order_acquire);
    if (failures != impl_->connection_failures_returned) {
      impl_->connection_failures_returned = failures;
      return impl_->Explain(impl_->ConnectionFailure(), "consumer");
    }
  }
  return out;
}

absl::Status Consumer::Commit(const ReceivedMessage& message, bool async) {
  return Commit({{std::string(message.topic()), message.partition(), message.offset() + 1}}, async);
}

absl::Status Consumer::Commit(const std::vector<TopicPartition>& offsets, bool async) {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("consumer is closed");
  if (absl::Status s = impl_->CheckGroup(); !s.ok()) return s;
  if (offsets.empty()) return absl::OkStatus();
  auto list = ToList(offsets);
  return impl_->CommitList(list.get(), async);
}

absl::Status Consumer::CommitAll(bool async) {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("consumer is closed");
  if (absl::Status s = impl_->CheckGroup(); !s.ok()) return s;
  std::vector<TopicPartition> offsets;
  for (const auto& [key, offset] : impl_->consumed) {
    if (impl_->assigned.count(key)) offsets.push_back({key.first, key.second, offset});
  }
  if (offsets.empty()) return absl::OkStatus();
  auto list = ToList(offsets);
  return impl_->CommitList(list.get(), async);
}

std::vector<TopicPartition> Consumer::Assignment() const {
  std::lock_guard lock(impl_->mu);
  std::vector<TopicPartition> out;
  for (const auto& [topic, partition] : impl_->assigned) out.push_back({topic, partition, -1001});
  return out;
}

bool Consumer::ReachedEnd() const {
  std::lock_guard lock(impl_->mu);
  if (impl_->assigned.empty()) return false;
  for (const auto& key : impl_->assigned) {
    if (!impl_->at_end.count(key)) return false;
  }
  return true;
}

absl::StatusOr<std::vector<PartitionLag>> Consumer::Lag(std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("consumer is closed");
  std::vector<TopicPartition> parts;
  for (const auto& [topic, partition] : impl_->assigned) parts.push_back({topic, partition, -1001});
  std::vector<PartitionLag> out;
  if (parts.empty()) return out;
  auto positions = ToList(parts);
  rd_kafka_position(impl_->rk.get(), positions.get());
  auto committed = ToList(parts);
  rd_kafka_resp_err_t err =
      rd_kafka_committed(impl_->rk.get(), committed.get(), static_cast<int>(timeout.count()));
  if (err) return KafkaError(err, "lag: committed offsets", true);
  for (int i = 0; i < positions->cnt; ++i) {
    PartitionLag lag;
    lag.topic = positions->elems[i].topic;
    lag.partition = positions->elems[i].partition;
    lag.position = positions->elems[i].offset >= 0 ? positions->elems[i].offset : -1;
    lag.committed = committed->elems[i].offset >= 0 ? committed->elems[i].offset : -1;
    err = rd_kafka_query_watermark_offsets(impl_->rk.get(), lag.topic.c_str(), lag.partition,
                                           &lag.low, &lag.high, static_cast<int>(timeout.count()));
    if (err) return KafkaError(err, "lag: watermarks", true);
    int64_t at = std::max(lag.position, lag.committed);
    lag.lag = at >= 0 ? std::max<int64_t>(0, lag.high - at) : lag.high - lag.low;
    out.push_back(std::move(lag));
  }
  return out;
}

// Pause and Resume differ only in the librdkafka call: `pause` chooses it.
absl::Status Consumer::Impl::PauseOrResume(const std::vector<TopicPartition>& partitions,
                                           bool pause) {
  Impl& impl = *this;
  std::lock_guard lock(impl.mu);
  if (impl.closed) return absl::FailedPreconditionError("consumer is closed");
  std::vector<TopicPartition> parts = partitions;
  if (parts.empty()) {
    for (const auto& [t, p] : impl.assigned) parts.push_back({t, p, -1001});
  }
  if (!BatchPollAlwaysSafe()) impl.batch_fetch_safe = false;
  auto list = ToList(parts);
  const char* what = pause ? "pause" : "resume";
  rd_kafka_resp_err_t err = pause ? rd_kafka_pause_partitions(impl.rk.get(), list.get())
                                  : rd_kafka_resume_partitions(impl.rk.get(), list.get());
  if (err) return KafkaError(err, what);
  return ListError(list.get(), what);
}

absl::Status Consumer::Pause(const std::vector<TopicPartition>& partitions) {
  return impl_->PauseOrResume(partitions, /*pause=*/true);
}

absl::Status Consumer::Resume(const std::vector<TopicPartition>& partitions) {
  return impl_->PauseOrResume(partitions, /*pause=*/false);
}

absl::Status Consumer::Seek(const TopicPartition& position, std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return absl::FailedPreconditionError("consumer is closed");
  if (!impl_->assigned.count({position.topic, position.partition})) {
    return absl::FailedPreconditionError(
        absl::StrCat("seek: ", position.topic, "[", position.partition, "] is not assigned"));
  }
  if (!BatchPollAlwaysSafe()) impl_->batch_fetch_safe = false;
  auto list = ToList({position});
  rd_kafka_error_t* e =
      rd_kafka_seek_partitions(impl_->rk.get(), list.get(), static_cast<int>(timeout.count()));
  if (e) {
    absl::Status s = KafkaError(rd_kafka_error_code(e), "seek");
    rd_kafka_error_destroy(e);
    return s;
  }
  impl_->to_store.erase({position.topic, position.partition});
  // Without a wait librdkafka marks the partition _IN_PROGRESS: the seek is under way, and takes
  // effect before the partition's next record is handed out (older fetched ones are dropped).
  if (timeout.count() == 0 && list->cnt == 1 &&
      list->elems[0].err == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
    return absl::OkStatus();
  }
  return ListError(list.get(), "seek");
}

absl::Status Consumer::Close(std::chrono::milliseconds timeout) {
  std::lock_guard lock(impl_->mu);
  if (impl_->closed) return absl::OkStatus();
  impl_->closed = true;
  const auto deadline = SteadyClock::now() + timeout;
  impl_->close_deadline = deadline;
  if (impl_->config.commit == CommitMode::kAuto) impl_->StorePending();

  // Leave the group through a queue we poll ourselves, so the wait is bounded even when the broker
  // is gone (rd_kafka_consumer_close would block until it answers).
  internal::QueueHandle close_queue(rd_kafka_queue_new(impl_->rk.get()));
  absl::Status result;
  rd_kafka_error_t* e = rd_kafka_consumer_close_queue(impl_->rk.get(), close_queue.get());
  if (e) {
    result = KafkaError(rd_kafka_error_code(e), "close");
    rd_kafka_error_destroy(e);
  } else {
    while (!rd_kafka_consumer_closed(impl_->rk.get())) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
      if (left.count() <= 0) {
        result = absl::DeadlineExceededError(absl::StrCat(
            "consumer close: group ", impl_->config.group_id, " not left within ", timeout.count(),
            " ms (broker unreachable?); the client is released anyway"));
        break;
      }
      internal::EventHandle ev(rd_kafka_queue_poll(
          close_queue.get(), static_cast<int>(std::min<int64_t>(left.count(), 100))));
      if (ev && rd_kafka_event_type(ev.get()) == RD_KAFKA_EVENT_REBALANCE) {
        impl_->OnRebalance(impl_->rk.get(), rd_kafka_event_error(ev.get()),
                           rd_kafka_event_topic_partition_list(ev.get()));
      }
    }
  }
  impl_->assigned.clear();
  return result;
}

const std::string& Consumer::group_id() const { return impl_->config.group_id; }

rd_kafka_t* internal::GroupHandleOf(const Consumer& consumer) {
  std::lock_guard lock(consumer.impl_->mu);
  if (consumer.impl_->closed || consumer.impl_->assigned_manually) return nullptr;
  return consumer.impl_->rk.get();
}

}  // namespace messagecorps
