// messagecorps/producer.h — sends typed, enveloped, traced protobuf messages to Kafka.
//
// Each send: stamps the message's `_message_data` (envelope.h), encodes it per topic (codec.h: seed
// zlib by default, raw, confluent), adds the standard headers (cloud_events.h: CloudEvents binary
// mode, W3C traceparent, mcorps-encoding) plus your own, and hands the record to librdkafka.
//
// Defaults (override any through ClientConfig::properties): enable.idempotence=true, acks=all,
// linger.ms=5, no key (like the original).
//
// Delivery is never silent. Every record accepted by a Send* call gets exactly one DeliveryReport:
// through ProducerConfig::on_delivery, through the per-send SendOptions::on_delivery, through the
// future of SendAsync, or as the result of SendSync. Reports are delivered on whichever thread
// polls librdkafka: inside Send*/Flush calls, or on the producer's idle poller thread (which only
// polls when no Send has polled for a few milliseconds). Callbacks must not block and must not
// throw (an exception escaping one is caught, logged and counted as a callback failure).
//
// Local queue full: Send waits up to ProducerConfig::queue_full_wait for room, then returns
// kResourceExhausted — a record is never dropped without an error.
//
// Destruction flushes for at most ProducerConfig::close_timeout; records still undelivered then are
// purged, each reported as failed (kDeadlineExceeded) to its callback/future, and their number is
// logged at error level.
//
// Thread-safety: every method may be called concurrently from any number of threads (the original's
// producer was not thread-safe; this one is). Ownership: the Producer owns its librdkafka handle.
//
// Allocation on the hot path (Send with a reused message object, no per-send callback): none of its
// own — serialization goes into a thread-local buffer that librdkafka copies (RD_KAFKA_MSG_F_COPY),
// header values are views. SendAsync allocates a promise; a per-send on_delivery allocates its
// closure.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/topic.h"
#include "messagecorps/trace_context.h"

namespace google::protobuf {
class Message;
}

namespace messagecorps {

class ReceivedMessage;

// The outcome of one record.
struct DeliveryReport {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;  // -1 when not delivered
  absl::Status status;  // OK, or why it was not delivered (KafkaError codes; retriable/fatal flags)
  std::string uuid;     // the envelope uuid of the record ("" for SendEncoded)
};

using DeliveryCallback = std::function<void(const DeliveryReport&)>;

// Which standard headers a record carries.
enum class HeaderMode {
  kStandard,  // CloudEvents + traceparent + mcorps-encoding (default)
  // ce_type + traceparent + mcorps-encoding only: what messagecorps consumers read (type check,
  // trace, encoding), for high rates of small records, where the eight standard headers cost more
  // than the value (BENCHMARKS.md). Not a valid CloudEvent: CloudEvents consumers need
  // ce_specversion, ce_id and ce_source.
  kCompact,
  kNone,  // none: exactly the original's records (value only), plus SendOptions::headers
};

// "standard", "compact", "none"
std::string_view HeaderModeName(HeaderMode mode);
// Parses one of those names (case-insensitive); kInvalidArgument naming the value otherwise.
absl::StatusOr<HeaderMode> ParseHeaderMode(std::string_view name);

// What a producer does beyond the client configuration every client shares (ClientConfig): who
// it says is sending, which headers it writes, how it reports and waits. Separate from
// ProducerConfig so that a Router (router.h) takes one ClientConfig for all its clients plus
// these.
struct ProducerOptions {
  // Who is sending; default from the environment (LOG_TAG_SERVICE, ENVIRONMENT).
  std::optional<EnvelopeSettings> envelope;
  HeaderMode headers = HeaderMode::kStandard;
  // Called for every record that has no per-send callback or future.
  DeliveryCallback on_delivery;
  // How long Send waits for local queue space before kResourceExhausted.
  std::chrono::milliseconds queue_full_wait{5000};
  // Bound on the flush done by the destructor.
  std::chrono::milliseconds close_timeout{10000};
};

// Everything a Producer is built from: the shared client configuration and the producer's own
// options. `ProducerConfig{client, options}` joins the two.
struct ProducerConfig : ClientConfig, ProducerOptions {};

struct SendOptions {
  std::optional<std::string_view> key;  // none by default, like the original
  const Headers* headers = nullptr;     // extra headers, appended after the standard ones
  int32_t partition = -1;               // -1: the partitioner chooses
  // The trace this message derives from: the trace id is inherited and the parent's span recorded.
  // See DerivedFrom().
  const TraceContext* parent = nullptr;
  // Per-send report (allocates its closure); overrides ProducerConfig::on_delivery for this record.
  DeliveryCallback on_delivery;
  int64_t timestamp_ms = 0;  // 0: now

  // Options for a message derived from `received` (inherits its trace; one call, no copying).
  static SendOptions DerivedFrom(const ReceivedMessage& received);
};

class Producer {
 public:
  // Builds the producer. kInvalidArgument for misconfiguration (bad property, no brokers, a bad
  // ENVIRONMENT value). It does not wait for the broker: an unreachable broker shows up as failed
  // deliveries after message.timeout.ms (and as logged errors before that).
  static absl::StatusOr<std::unique_ptr<Producer>> Create(ProducerConfig config);
  ~Producer();
  Producer(const Producer&) = delete;
  Producer& operator=(const Producer&) = delete;

  // Asynchronous typed send; the report goes to options.on_delivery or ProducerConfig::on_delivery.
  // Stamps `message` in place (uuid, time, trace...), so the caller sees the ids that were sent.
  // Errors (nothing was queued, no report will come): kInvalidArgument (bad trace id in the
  // message, encoding failure), kResourceExhausted (queue still full after queue_full_wait, or the
  // record is larger than message.max.bytes), kAborted (the producer hit a fatal error), kNotFound
  // (unknown partition).
  template <ProtoMessage T>
  absl::Status Send(const Topic<T>& topic, T& message, const SendOptions& options = {}) {
    return SendMessage(topic.name(), message, topic.encode_options(), options);
  }

  // Asynchronous send with a future. If queuing fails the future is ready at once with the error.
  template <ProtoMessage T>
  std::future<DeliveryReport> SendAsync(const Topic<T>& topic, T& message,
                                        SendOptions options = {}) {
    return SendMessageAsync(topic.name(), message, topic.encode_options(), std::move(options));
  }

  // Waits for the delivery (polling librdkafka on this thread) for at most `timeout`:
  // the report's status, or kDeadlineExceeded (the record may still be delivered later; its report
  // is then dropped).
  template <ProtoMessage T>
  absl::StatusOr<DeliveryReport> SendSync(
      const Topic<T>& topic, T& message, SendOptions options = {},
      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    return SendMessageSync(topic.name(), message, topic.encode_options(), std::move(options),
                           timeout);
  }

  // Untyped sends (tools, routers, dynamic messages); same rules as above.
  absl::Status SendMessage(std::string_view topic, google::protobuf::Message& message,
                           const EncodeOptions& encoding, const SendOptions& options = {});
  std::future<DeliveryReport> SendMessageAsync(std::string_view topic,
                                               google::protobuf::Message& message,
                                               const EncodeOptions& encoding,
                                               SendOptions options = {});
  absl::StatusOr<DeliveryReport> SendMessageSync(std::string_view topic,
                                                 google::protobuf::Message& message,
                                                 const EncodeOptions& encoding, SendOptions options,
                                                 std::chrono::milliseconds timeout);

  // Sends an already-encoded value as is: no stamping, only `options.headers` (dead-letter queues,
  // replays, benchmarks' raw baseline through the same client).
  absl::Status SendEncoded(std::string_view topic, std::string_view value,
                           const SendOptions& options = {});

  // Waits until every queued record has its report, for at most `timeout`. kDeadlineExceeded with
  // the number still outstanding otherwise.
  absl::Status Flush(std::chrono::milliseconds timeout);

  // Records queued or in flight (not yet reported).
  int64_t Outstanding() const;

  // The envelope settings in use (service, environment).
  const EnvelopeSettings& envelope_settings() const;

 private:
  struct Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace messagecorps
