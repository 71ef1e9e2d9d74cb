#include "messagecorps/producer.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "bounded_call.h"
#include "client_core.h"
#include "consumer_group_handle.h"
#include "messagecorps/consumer.h"
#include "messagecorps/error.h"
#include "messagecorps/metrics.h"
#include "messagecorps/string_view.h"
#include "rdkafka_handles.h"
#include "tracing_internal.h"

namespace messagecorps {

namespace {

// How long past its own timeout a SendOffsetsToTransaction call may take before it is given up on
// (librdkafka #5456): librdkafka answers a little after a timeout, never seconds after.
constexpr std::chrono::milliseconds kStuckCallGrace{5000};

using SteadyClock = std::chrono::steady_clock;

int64_t NowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now().time_since_epoch())
      .count();
}

// What a record needs to know when its delivery report arrives, when the caller asked for a
// per-record outcome (future or callback). Records without one carry no opaque at all.
struct PendingReport {
  DeliveryCallback callback;
  // Only for futures: a std::promise allocates its shared state (two allocations) when built,
  // which a callback send (mcorps-gateway's, per record) need not pay.
  std::optional<std::promise<DeliveryReport>> promise;
  std::string uuid;
};

// The envelope uuid of an encoded record value ("" when it has none or does not decode).
std::string_view UuidOfValue(std::string_view value) {
  thread_local std::string scratch;
  absl::StatusOr<std::string_view> payload = Unwrap(value, DetectEncoding(value), {}, &scratch);
  if (!payload.ok()) return {};
  return EnvelopeUuidInBytes(*payload).value_or(std::string_view());
}

// A transactional API error as a status (see producer.h for what callers do with each kind). Takes
// ownership of `e`.
absl::Status TransactionError(rd_kafka_error_t* e, std::string_view what) {
  if (e == nullptr) return absl::OkStatus();
  const rd_kafka_resp_err_t code = rd_kafka_error_code(e);
  ErrorDetail detail;
  detail.kafka_code = code;
  detail.retriable = rd_kafka_error_is_retriable(e) != 0;
  detail.fatal = rd_kafka_error_is_fatal(e) != 0;
  detail.abort_transaction = rd_kafka_error_txn_requires_abort(e) != 0;
  detail.reason = detail.fatal ? ErrorReason::kFenced : ReasonForKafkaCode(code);
  std::string message = absl::StrCat(AsAbsl(what), ": ", rd_kafka_error_string(e), " (",
                                     rd_kafka_err2name(code), ")");
  rd_kafka_error_destroy(e);
  absl::StatusCode status_code = KafkaError(code, "").code();
  if (detail.fatal || detail.abort_transaction) status_code = absl::StatusCode::kAborted;
  if (status_code == absl::StatusCode::kOk) status_code = absl::StatusCode::kInternal;
  return MakeError(status_code, message, detail);
}

}  // namespace

std::string_view HeaderModeName(HeaderMode mode) {
  switch (mode) {
    case HeaderMode::kTraceparent:
      return "traceparent";
    case HeaderMode::kStandard:
      return "standard";
    case HeaderMode::kCompact:
      return "compact";
    case HeaderMode::kNone:
      return "none";
  }
  return "unknown";
}

absl::StatusOr<HeaderMode> ParseHeaderMode(std::string_view name) {
  for (HeaderMode mode :
       {HeaderMode::kTraceparent, HeaderMode::kStandard, HeaderMode::kCompact, HeaderMode::kNone}) {
    if (absl::EqualsIgnoreCase(AsAbsl(name), AsAbsl(HeaderModeName(mode)))) return mode;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown header mode \"", AsAbsl(name),
                   "\" (expected traceparent, standard, compact or none)"));
}

SendOptions SendOptions::DerivedFrom(const ReceivedMessage& received) {
  SendOptions options;
  if (!received.trace().empty()) options.parent = &received.trace();
  return options;
}

struct Producer::Impl : internal::ClientCore {
  ProducerConfig config;
  EnvelopeSettings envelope;
  std::string ce_source;
  internal::KafkaHandle rk;

  std::atomic<int64_t> outstanding{0};
  std::atomic<int64_t> last_poll_ns{0};
  std::atomic<bool> in_transaction{false};

  // A SendOffsetsToTransaction call given up on while it still runs inside librdkafka (see there).
  // Declared after `rk`, so destroyed before it: its destructor waits for the call to return.
  std::unique_ptr<internal::BoundedCall> stuck_call;

  // Drops what is queued or in flight and serves the purge reports (for at most 500 ms), so every
  // callback/future hears about its record.
  void PurgeAndReport() {
    rd_kafka_purge(rk.get(), RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    for (int i = 0; i < 50 && outstanding.load() > 0; ++i) rd_kafka_poll(rk.get(), 10);
    // What librdkafka still holds after its purge has not been reported and will not be: its
    // destruction frees records without delivery reports. Said, so that a lost report (a future
    // that never completes) is never silent. Seen once, in CI under ASan, after a producer was
    // fenced (router_exactly_once_test: 16 reports of SendMessageAsync leaked).
    if (const int64_t lost = outstanding.load(); lost > 0) {
      logger->error(
          "producer closing: {} record(s) still without a delivery report after the purge", lost);
    }
  }

  absl::Status CheckTransactional(std::string_view what) const {
    if (config.transactional_id.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          AsAbsl(what), ": this producer is not transactional (ProducerConfig::transactional_id)"));
    }
    if (stuck_call) {
      return absl::DeadlineExceededError(
          absl::StrCat(AsAbsl(what),
                       ": a send_offsets_to_transaction call of this producer outlived its "
                       "timeout and still runs inside librdkafka (librdkafka #5456): no "
                       "transactional call can follow it; replace the producer"));
    }
    return absl::OkStatus();
  }

  // Idle poller: serves delivery reports when no Send is polling (so futures and callbacks complete
  // for a producer that sends rarely). It stays out of the way of a busy sender: it only polls when
  // nobody has for kIdlePoll (kDuePoll while reports are due). While reports are due it waits for
  // them inside librdkafka (a poll that returns as soon as one is ready), so a rare send's report
  // comes with its acknowledgement; with nothing outstanding it sleeps, and the first send wakes
  // it. (It used to sleep 100 ms whenever nothing was outstanding, unwoken: a lone send's report
  // then waited up to 100 ms, and mcorps-gateway's unary Publish took ~100 ms per call.)
  static constexpr std::chrono::milliseconds kIdlePoll{10};
  // While reports are due, how long nobody may have polled before the poller does: short, so that
  // a sparse sender's reports are not held back (a busy sender polls on every send itself).
  static constexpr std::chrono::milliseconds kDuePoll{1};
  std::thread poller;
  std::mutex poller_mu;
  std::condition_variable poller_cv;
  bool stopping = false;

  static void OnDeliveryTrampoline(rd_kafka_t*, const rd_kafka_message_t* m, void* opaque) {
    auto* impl = static_cast<Impl*>(static_cast<internal::ClientCore*>(opaque));
    impl->OnDelivery(m);
  }

  void OnDelivery(const rd_kafka_message_t* m) {
    auto* pending = static_cast<PendingReport*>(m->_private);
    outstanding.fetch_sub(1, std::memory_order_relaxed);
    if (metrics) {
      if (m->err) {
        metrics->Add(Counter::kDeliveryFailed);
      } else {
        metrics->Add(Counter::kDelivered);
      }
    }
    if (pending == nullptr && !config.on_delivery) return;
    try {
      DeliveryReport report;
      report.topic = rd_kafka_topic_name(m->rkt);
      report.partition = m->partition;
      report.offset = m->err ? -1 : m->offset;
      if (m->err == RD_KAFKA_RESP_ERR__PURGE_QUEUE || m->err == RD_KAFKA_RESP_ERR__PURGE_INFLIGHT) {
        report.status =
            MakeError(absl::StatusCode::kDeadlineExceeded,
                      absl::StrCat("record to ", report.topic,
                                   " purged: the producer closed or its transaction was aborted"),
                      ErrorDetail{m->err, true, false, ErrorReason::kTimeout});
      } else if (m->err) {
        bool retriable = m->err == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT ||
                         m->err == RD_KAFKA_RESP_ERR__TRANSPORT ||
                         m->err == RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS;
        report.status = KafkaError(m->err, absl::StrCat("delivery to ", report.topic), retriable);
        // Timed out because we could never log in (or trust the broker): say that.
        if (retriable && m->err != RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS) {
          report.status = Explain(report.status, absl::StrCat("delivery to ", report.topic));
        }
      }
      report.possibly_persisted =
          m->err && rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
      if (pending) {
        report.uuid = std::move(pending->uuid);
      } else {
        rd_kafka_headers_t* hdrs = nullptr;
        const void* value = nullptr;
        size_t size = 0;
        if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            rd_kafka_header_get_last(hdrs, "ce_id", &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            value) {
          report.uuid.assign(static_cast<const char*>(value), size);
        } else if (m->payload != nullptr) {
          // No ce_id (the default header set): the envelope in the value has the uuid.
          report.uuid.assign(
              UuidOfValue(std::string_view(static_cast<const char*>(m->payload), m->len)));
        }
      }
      if (pending && pending->promise) {
        pending->promise->set_value(std::move(report));
      } else if (pending && pending->callback) {
        pending->callback(report);
      } else if (config.on_delivery) {
        config.on_delivery(report);
      }
    } catch (const std::exception& e) {
      logger->error("delivery callback threw: {}", e.what());
    } catch (...) {
      logger->error("delivery callback threw a non-std exception");
    }
    delete pending;
  }

  void Poll(int timeout_ms) {
    rd_kafka_poll(rk.get(), timeout_ms);
    last_poll_ns.store(NowNanos(), std::memory_order_relaxed);
  }

  void RunIdlePoller() {
    std::unique_lock lock(poller_mu);
    while (!stopping) {
      const bool due = outstanding.load(std::memory_order_relaxed) > 0;
      const std::chrono::milliseconds period = due ? kDuePoll : kIdlePoll;
      const int64_t idle_ns = NowNanos() - last_poll_ns.load(std::memory_order_relaxed);
      if (idle_ns >= std::chrono::nanoseconds(period).count()) {
        // Nobody polled lately. Also with nothing outstanding: an idle producer still has
        // statistics and errors to report (its callbacks run only when it is polled).
        lock.unlock();
        Poll(due ? static_cast<int>(kIdlePoll.count()) : 0);
        lock.lock();
        if (due) continue;
      }
      if (stopping) break;
      poller_cv.wait_for(lock, due ? kDuePoll : kIdlePoll * 10);
    }
  }

  // The first record outstanding wakes the idle poller out of its long sleep.
  void NoteOutstanding() {
    if (outstanding.fetch_add(1, std::memory_order_relaxed) == 0) {
      { std::lock_guard lock(poller_mu); }  // no lost wake-up: the poller waits or sees the count
      poller_cv.notify_one();
    }
  }

  absl::Status CheckUsable() {
    if (has_fatal.load(std::memory_order_relaxed)) return FatalStatus();
    return absl::OkStatus();
  }

  // Queues one record. `headers` ownership passes to librdkafka on success (freed here on failure).
  absl::Status Enqueue(std::string_view topic, std::string_view value, const SendOptions& options,
                       internal::HeadersHandle headers, PendingReport* pending) {
    // librdkafka wants a NUL-terminated name. A per-thread buffer, so that names longer than the
    // 15 characters std::string keeps inline do not cost an allocation per send. Filled on every
    // attempt: a delivery callback run by Poll() below may send (and so refill it) itself.
    thread_local std::string topic_z;
    std::optional<SteadyClock::time_point> deadline;  // read the clock only when the queue is full
    for (;;) {
      topic_z.assign(topic.data(), topic.size());
      rd_kafka_resp_err_t err;
      rd_kafka_headers_t* raw_headers = headers.get();
      if (options.key.has_value()) {
        err = rd_kafka_producev(
            rk.get(), RD_KAFKA_V_TOPIC(topic_z.c_str()), RD_KAFKA_V_PARTITION(options.partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_KEY(options.key->data(), options.key->size()),
            RD_KAFKA_V_HEADERS(raw_headers), RD_KAFKA_V_TIMESTAMP(options.timestamp_ms),
            RD_KAFKA_V_OPAQUE(pending), RD_KAFKA_V_END);
      } else {
        err = rd_kafka_producev(
            rk.get(), RD_KAFKA_V_TOPIC(topic_z.c_str()), RD_KAFKA_V_PARTITION(options.partition),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
            RD_KAFKA_V_HEADERS(raw_headers), RD_KAFKA_V_TIMESTAMP(options.timestamp_ms),
            RD_KAFKA_V_OPAQUE(pending), RD_KAFKA_V_END);
      }
      if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        (void)headers.release();  // librdkafka owns them now
        NoteOutstanding();
        if (metrics) metrics->Add(Counter::kSent);
        Poll(0);
        return absl::OkStatus();
      }
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && !deadline) {
        deadline = SteadyClock::now() + config.queue_full_wait;
      }
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL && SteadyClock::now() < *deadline) {
        Poll(10);  // serve delivery reports: that is what frees queue space
        continue;
      }
      if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
        return KafkaError(err,
                          absl::StrCat("send to ", AsAbsl(topic), ": local queue still full after ",
                                       config.queue_full_wait.count(),
                                       " ms (queue.buffering.max.messages/kbytes)"),
                          true);
      }
      if (err == RD_KAFKA_RESP_ERR__FATAL) return FatalStatus();
      return KafkaError(err, absl::StrCat("send to ", AsAbsl(topic)));
    }
  }

  absl::Status SendMessage(std::string_view topic, google::protobuf::Message& message,
                           const EncodeOptions& encoding, const SendOptions& options,
                           PendingReport* pending) {
    if (auto s = CheckUsable(); !s.ok()) return s;
    const TraceContext* parent = options.parent;
    absl::StatusOr<Envelope> envelope_or =
        HasEnvelopeField(message.GetDescriptor())
            ? Stamp(message, envelope, parent)
            : absl::StatusOr<Envelope>(MakeEnvelope(envelope, parent));
    if (!envelope_or.ok()) return envelope_or.status();
    const Envelope& env = *envelope_or;

    // One reusable buffer per thread: librdkafka copies the value (F_COPY), so no allocation of
    // ours per message once it has grown.
    thread_local std::string buffer;
    if (auto s = Encode(message, encoding, &buffer); !s.ok()) return s;

    internal::HeadersHandle headers;
    if (config.headers != HeaderMode::kNone || options.headers) {
      const size_t envelope_headers = config.headers == HeaderMode::kStandard      ? 8
                                      : config.headers == HeaderMode::kCompact     ? 3
                                      : config.headers == HeaderMode::kTraceparent ? 3
                                                                                   : 0;
      headers.reset(
          rd_kafka_headers_new(envelope_headers + (options.headers ? options.headers->size() : 0)));
    }
    rd_kafka_headers_t* h = headers.get();
    auto add = [h](std::string_view k, std::string_view v) {
      rd_kafka_header_add(h, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    };
    const std::string& type_name = message.GetDescriptor()->full_name();
    if (config.headers == HeaderMode::kTraceparent) {
      ForEachTraceparentHeader(env, type_name, HasEnvelopeField(message.GetDescriptor()),
                               encoding.encoding, buffer, add);
    } else if (config.headers == HeaderMode::kStandard) {
      ForEachEnvelopeHeader(env, type_name, encoding.encoding, ce_source, add);
    } else if (config.headers == HeaderMode::kCompact) {
      ForEachCompactHeader(env, type_name, encoding.encoding, add);
    }
    AppendExtraHeaders(headers.get(), options);
    if (pending) pending->uuid.assign(env.uuid_view());
    // PRODUCER span (empty when tracing is off): its id is the traceparent's span id just written.
    tracing::Span span =
        tracing::internal::StartPublish(topic, &env.trace, env.uuid_view(), options.key,
                                        options.partition, buffer.size(), env.time);
    absl::Status queued = Enqueue(topic, buffer, options, std::move(headers), pending);
    span.SetError(queued);
    return queued;
  }

  static void AppendExtraHeaders(rd_kafka_headers_t* h, const SendOptions& options) {
    if (!options.headers) return;
    for (const auto& [k, v] : *options.headers) {
      rd_kafka_header_add(h, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                          static_cast<ssize_t>(v.size()));
    }
  }

  // A PendingReport for options.on_delivery, or nullptr when the producer-wide callback applies.
  static PendingReport* PendingFor(const SendOptions& options) {
    if (!options.on_delivery) return nullptr;
    auto* p = new PendingReport;
    p->callback = options.on_delivery;
    return p;
  }
};

absl::StatusOr<std::unique_ptr<Producer>> Producer::Create(ProducerConfig config) {
  auto impl = std::make_unique<Impl>();
  internal::InitCore(*impl, config, "producer");
  if (config.envelope.has_value()) {
    impl->envelope = *config.envelope;
  } else {
    auto env = EnvelopeSettings::FromEnvironment();
    if (!env.ok()) return env.status();
    impl->envelope = *env;
  }
  impl->ce_source = CloudEventsSource(impl->envelope.service);
  if (config.queue_full_wait.count() < 0 || config.close_timeout.count() < 0) {
    return absl::InvalidArgumentError("producer: queue_full_wait and close_timeout must be >= 0");
  }

  // Safe defaults: no duplicates on retry, every in-sync replica acknowledges.
  const std::map<std::string, std::string> defaults = {
      {"enable.idempotence", "true"},
      {"acks", "all"},
      {"linger.ms", "5"},
  };
  std::map<std::string, std::string> with_id = defaults;
  if (!config.transactional_id.empty()) with_id["transactional.id"] = config.transactional_id;
  auto conf = internal::BuildConf(config, with_id, impl.get());
  if (!conf.ok()) return conf.status();
  rd_kafka_conf_set_dr_msg_cb(conf->get(), &Impl::OnDeliveryTrampoline);

  char errstr[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf->get(), errstr, sizeof errstr);
  if (rk == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("producer: ", RedactSecrets(errstr, config.properties)));
  }
  (void)conf->release();  // rd_kafka_new took it
  impl->rk.reset(rk);
  impl->name = rd_kafka_name(rk);
  impl->config = std::move(config);
  impl->last_poll_ns = NowNanos();
  Impl* raw = impl.get();
  impl->poller = std::thread([raw] { raw->RunIdlePoller(); });
  return std::unique_ptr<Producer>(new Producer(std::move(impl)));
}

Producer::Producer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Producer::~Producer() {
  {
    std::lock_guard lock(impl_->poller_mu);
    impl_->stopping = true;
  }
  impl_->poller_cv.notify_all();
  impl_->poller.join();

  if (impl_->stuck_call) {
    // librdkafka still runs a transactional call (SendOffsetsToTransaction): an abort would only
    // conflict with it, and destroying the client under it is not allowed. What is queued is
    // purged and reported now; the client itself is destroyed by a thread of its own once the call
    // returns (if it ever does: librdkafka #5456), without holding up this destructor.
    impl_->logger->warn(
        "producer closing while a send_offsets_to_transaction call is stuck in librdkafka: its "
        "transaction is left to the coordinator (aborted at the transaction timeout or by the "
        "next producer with the same transactional id)");
    impl_->PurgeAndReport();
    std::thread([impl = std::move(impl_)]() mutable { impl.reset(); }).detach();
    return;
  }
  if (impl_->in_transaction.load()) {
    absl::Status aborted = AbortTransaction(impl_->config.close_timeout);
    impl_->logger->warn("producer closing with a transaction open: aborted ({})",
                        aborted.ok() ? std::string("ok") : aborted.ToString());
  }
  absl::Status flushed = Flush(impl_->config.close_timeout);
  if (!flushed.ok()) {
    impl_->logger->error(
        "producer closing: {} record(s) not delivered within {} ms; they are purged and reported "
        "as failed",
        Outstanding(), impl_->config.close_timeout.count());
  }
  // Also after a successful flush: librdkafka's queue may be empty with reports still unserved
  // (e.g. after a fatal error).
  if (Outstanding() > 0) impl_->PurgeAndReport();
}

absl::Status Producer::SendMessage(std::string_view topic, google::protobuf::Message& message,
                                   const EncodeOptions& encoding, const SendOptions& options) {
  PendingReport* pending = Impl::PendingFor(options);
  absl::Status s = impl_->SendMessage(topic, message, encoding, options, pending);
  if (!s.ok()) delete pending;
  return s;
}

std::future<DeliveryReport> Producer::SendMessageAsync(std::string_view topic,
                                                       google::protobuf::Message& message,
                                                       const EncodeOptions& encoding,
                                                       SendOptions options) {
  auto* pending = new PendingReport;
  std::future<DeliveryReport> future = pending->promise.emplace().get_future();
  absl::Status s = impl_->SendMessage(topic, message, encoding, options, pending);
  if (!s.ok()) {
    DeliveryReport failed;
    failed.topic = std::string(topic);
    failed.status = s;
    pending->promise->set_value(std::move(failed));
    delete pending;
  }
  return future;
}

absl::StatusOr<DeliveryReport> Producer::SendMessageSync(std::string_view topic,
                                                         google::protobuf::Message& message,
                                                         const EncodeOptions& encoding,
                                                         SendOptions options,
                                                         std::chrono::milliseconds timeout) {
  std::future<DeliveryReport> future =
      SendMessageAsync(topic, message, encoding, std::move(options));
  const auto deadline = SteadyClock::now() + timeout;
  while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    // Wrong credentials or an untrusted broker: say so now, not at the end of the timeout (the
    // record stays queued; its report goes nowhere).
    if (absl::Status failure = impl_->ConnectionFailure(); !failure.ok()) {
      return impl_->Explain(failure, absl::StrCat("send to ", AsAbsl(topic)));
    }
    if (SteadyClock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "send to ", AsAbsl(topic), ": no delivery report within ", timeout.count(), " ms"));
    }
    impl_->Poll(10);
  }
  DeliveryReport report = future.get();
  if (!report.status.ok()) return report.status;
  return report;
}

absl::Status Producer::SendEncoded(std::string_view topic, std::string_view value,
                                   const SendOptions& options) {
  if (auto s = impl_->CheckUsable(); !s.ok()) return s;
  internal::HeadersHandle headers;
  if (options.headers) {
    headers.reset(rd_kafka_headers_new(options.headers->size()));
    Impl::AppendExtraHeaders(headers.get(), options);
  }
  PendingReport* pending = Impl::PendingFor(options);
  // A re-publication (a dead letter, a replay): a PRODUCER span under the thread's active span.
  tracing::Span span = tracing::internal::StartPublish(topic, nullptr, {}, options.key,
                                                       options.partition, value.size());
  absl::Status s = impl_->Enqueue(topic, value, options, std::move(headers), pending);
  span.SetError(s);
  if (!s.ok()) delete pending;
  return s;
}

absl::Status Producer::Flush(std::chrono::milliseconds timeout) {
  // In slices, so that a connection failure (wrong credentials, untrusted broker) ends the wait
  // within 100 ms of being reported instead of after `timeout`.
  const auto flush_deadline = SteadyClock::now() + timeout;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR__TIMED_OUT;
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(flush_deadline - SteadyClock::now());
    err = rd_kafka_flush(impl_->rk.get(),
                         static_cast<int>(std::clamp<int64_t>(left.count(), 0, 100)));
    if (err != RD_KAFKA_RESP_ERR__TIMED_OUT || left.count() <= 100) break;
    if (absl::Status failure = impl_->ConnectionFailure(); !failure.ok()) {
      return impl_->Explain(failure,
                            absl::StrCat("flush (", Outstanding(), " record(s) not delivered)"));
    }
  }
  impl_->last_poll_ns = NowNanos();
  // rd_kafka_flush returns once librdkafka's queues are empty; our count includes reports that are
  // being served right now, so wait for those too.
  const auto deadline = SteadyClock::now() + std::chrono::milliseconds(100);
  while (err == RD_KAFKA_RESP_ERR_NO_ERROR && Outstanding() > 0 && SteadyClock::now() < deadline) {
    impl_->Poll(1);
  }
  if (err == RD_KAFKA_RESP_ERR_NO_ERROR && Outstanding() == 0) return absl::OkStatus();
  return MakeError(absl::StatusCode::kDeadlineExceeded,
                   absl::StrCat("flush: ", Outstanding(), " record(s) still undelivered after ",
                                timeout.count(), " ms"),
                   ErrorDetail{RD_KAFKA_RESP_ERR__TIMED_OUT, true, false, ErrorReason::kTimeout});
}

int64_t Producer::Outstanding() const { return impl_->outstanding.load(); }

absl::Status Producer::InitTransactions(std::chrono::milliseconds timeout) {
  if (auto s = impl_->CheckTransactional("init transactions"); !s.ok()) return s;
  return TransactionError(
      rd_kafka_init_transactions(impl_->rk.get(), static_cast<int>(timeout.count())),
      absl::StrCat("init transactions (", impl_->config.transactional_id, ")"));
}

absl::Status Producer::BeginTransaction() {
  if (auto s = impl_->CheckTransactional("begin transaction"); !s.ok()) return s;
  absl::Status s =
      TransactionError(rd_kafka_begin_transaction(impl_->rk.get()), "begin transaction");
  if (s.ok()) impl_->in_transaction = true;
  return s;
}

absl::Status Producer::SendOffsetsToTransaction(const std::vector<TopicPartition>& offsets,
                                                const Consumer& consumer,
                                                std::chrono::milliseconds timeout) {
  if (auto s = impl_->CheckTransactional("send offsets to transaction"); !s.ok()) return s;
  rd_kafka_t* group_handle = internal::GroupHandleOf(consumer);
  if (group_handle == nullptr) {
    return absl::FailedPreconditionError(
        "send offsets to transaction: the consumer is closed or reads an explicit assignment "
        "(no group to commit to)");
  }
  internal::PartitionListHandle list(
      rd_kafka_topic_partition_list_new(static_cast<int>(offsets.size())));
  for (const TopicPartition& tp : offsets) {
    rd_kafka_topic_partition_list_add(list.get(), tp.topic.c_str(), tp.partition)->offset =
        tp.offset;
  }
  std::shared_ptr<rd_kafka_consumer_group_metadata_t> metadata(
      rd_kafka_consumer_group_metadata(group_handle), rd_kafka_consumer_group_metadata_destroy);
  // librdkafka waits for this call's outcome without a deadline, and the group-coordinator request
  // it makes has none either (librdkafka #5456, open in 2.14.2; #5511): when the coordinator's node
  // goes away at the wrong moment the call never returns (seen in the transactional-copy scenario
  // on 2.14.2, tests/robustness). So it runs on a thread of its own and is given up after
  // `timeout` and a grace period; the producer is then done with transactions (CheckTransactional).
  rd_kafka_t* rk = impl_->rk.get();
  std::shared_ptr<rd_kafka_topic_partition_list_t> shared_list(
      list.release(), rd_kafka_topic_partition_list_destroy);
  const int timeout_ms = static_cast<int>(timeout.count());
  auto call = std::make_unique<internal::BoundedCall>([rk, shared_list, metadata, timeout_ms] {
    return rd_kafka_send_offsets_to_transaction(rk, shared_list.get(), metadata.get(), timeout_ms);
  });
  const auto limit = timeout + kStuckCallGrace;
  if (!call->WaitFor(limit)) {
    impl_->stuck_call = std::move(call);
    impl_->logger->error(
        "send offsets to transaction: no answer from librdkafka {} ms after the call's {} ms "
        "timeout (librdkafka #5456); this producer can make no more transactional calls",
        kStuckCallGrace.count(), timeout.count());
    return absl::DeadlineExceededError(absl::StrCat(
        "send offsets to transaction: librdkafka did not return within ", limit.count(),
        " ms (its own timeout: ", timeout.count(), " ms; librdkafka #5456); replace the producer"));
  }
  return TransactionError(call->TakeResult(), "send offsets to transaction");
}

absl::Status Producer::CommitTransaction(std::chrono::milliseconds timeout) {
  if (auto s = impl_->CheckTransactional("commit transaction"); !s.ok()) return s;
  absl::Status s = TransactionError(
      rd_kafka_commit_transaction(impl_->rk.get(), static_cast<int>(timeout.count())),
      "commit transaction");
  // A retriable failure (e.g. a timeout) leaves the transaction open: commit again.
  if (s.ok() || !IsRetriable(s)) impl_->in_transaction = !s.ok() && !IsFatal(s);
  return s;
}

absl::Status Producer::AbortTransaction(std::chrono::milliseconds timeout) {
  if (auto s = impl_->CheckTransactional("abort transaction"); !s.ok()) return s;
  absl::Status s = TransactionError(
      rd_kafka_abort_transaction(impl_->rk.get(), static_cast<int>(timeout.count())),
      "abort transaction");
  if (s.ok() || IsFatal(s)) impl_->in_transaction = false;
  return s;
}

bool Producer::in_transaction() const { return impl_->in_transaction.load(); }

const EnvelopeSettings& Producer::envelope_settings() const { return impl_->envelope; }

}  // namespace messagecorps
