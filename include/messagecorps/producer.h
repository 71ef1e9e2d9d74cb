// messagecorps/producer.h — sends typed, enveloped, traced protobuf messages to Kafka.
//
// Each send: stamps the message's `_message_data` (envelope.h), encodes it per topic (codec.h: seed
// zlib by default, raw, confluent), adds the standard headers (cloud_events.h: CloudEvents binary
// mode, W3C traceparent, mcorps-encoding) plus your own, and hands the record to librdkafka.
//
// Defaults (override any through ClientConfig::properties): enable.idempotence=true, acks=all,
// linger.ms=5, no key (like the original).
//
// Idempotence stores each record once however often librdkafka retries it, as long as no record
// times out. When one does (message.timeout.ms: 300 s by default), librdkafka bumps the producer
// epoch and resends what was in flight to other partitions under the new epoch, which the brokers
// cannot tell from new records: a record whose first copy was written but not acknowledged is
// stored twice (librdkafka #4953; seen in the 12 s stall scenario with message.timeout.ms=3000,
// docs/RELIABILITY.md). Keep message.timeout.ms above the longest outage to ride out, or use
// transactions (below).
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
// Topics that do not exist: the producer follows the cluster, as the original did. Where the
// cluster creates topics on first use (auto.create.topics.enable=true, Kafka's default) the first
// record creates it (with the broker's num.partitions) and is delivered; elsewhere the record
// fails with kNotFound (UNKNOWN_TOPIC_OR_PART) in its report. Strict (never create):
// properties["allow.auto.create.topics"] = "false". AdminClient::BrokerConfig tells which applies
// (tests/integration/topic_auto_create_test.cc).
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
#include <vector>

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
class Consumer;
struct TopicPartition;

// The outcome of one record.
struct DeliveryReport {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;  // -1 when not delivered
  absl::Status status;  // OK, or why it was not delivered (KafkaError codes; retriable/fatal flags)
  std::string uuid;     // the envelope uuid of the record ("" for SendEncoded)
  // For a failed record: it may have been written anyway (librdkafka's message status "possibly
  // persisted": the broker got the request but its answer never came, e.g. a message timeout while
  // the cluster was frozen). Readers may still see such a record, and resending it may store it
  // twice. False for a record that certainly was not written (and for delivered ones).
  bool possibly_persisted = false;
};

using DeliveryCallback = std::function<void(const DeliveryReport&)>;

// Which standard headers a record carries.
//
// The default, kTraceparent, sends one header: the record's value already names its type
// (`_message_data.type`, envelope.h) and its encoding (its first bytes, codec.h), so the only fact
// left for a header is the trace, in the form OpenTelemetry's Kafka instrumentations read and
// write. Every header costs librdkafka an allocation on both sides and the consumer a parse; the
// eight of kStandard cost more than a small record's value (BENCHMARKS.md, scripts/bench). Full
// CloudEvents binary mode, for consumers that need ce_* headers, is one setting away (kStandard;
// `mcorps produce --headers standard`). Receivers of this library understand every mode, and the
// original's header-less records.
enum class HeaderMode {
  // traceparent only (default); plus ce_type for a type without a `_message_data` field, and
  // mcorps-encoding for the rare raw value whose first bytes look like zlib
  // (ForEachTraceparentHeader in cloud_events.h). Why the default: the value names its type
  // (`_message_data.type`) and its encoding (the bytes), so the consumer needs no header, and
  // OpenTelemetry's Kafka instrumentations send traceparent alone. librdkafka allocates per
  // header on both sides: 100 B records produce at 0.47x hand-written librdkafka + protobuf with
  // this mode against 0.28x with kStandard on librdkafka 2.0.2 (0.49x against 0.31x on 2.14.2;
  // kNone 0.75x / 0.81x; BENCHMARKS.md, "The traceparent default").
  kTraceparent,
  kStandard,  // CloudEvents binary mode + traceparent + mcorps-encoding (cloud_events.h)
  // ce_type + traceparent + mcorps-encoding only: the messagecorps consumers of before the type
  // travelled in the value read these. Not a valid CloudEvent: CloudEvents consumers need
  // ce_specversion, ce_id and ce_source.
  kCompact,
  kNone,  // none: exactly the original's records (value only), plus SendOptions::headers
};

// "traceparent", "standard", "compact", "none"
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
  HeaderMode headers = HeaderMode::kTraceparent;
  // Called for every record that has no per-send callback or future.
  DeliveryCallback on_delivery;
  // How long Send waits for local queue space before kResourceExhausted.
  std::chrono::milliseconds queue_full_wait{5000};
  // Bound on the flush done by the destructor.
  std::chrono::milliseconds close_timeout{10000};
  // Non-empty: a transactional producer with this transactional.id (see "Transactions" below).
  // Give each producer that takes over another's work the id of the one it replaces (e.g. one id
  // per service instance slot): InitTransactions then aborts whatever its predecessor left open
  // at once, instead of read_committed consumers waiting transaction.timeout.ms (60 s) for it.
  std::string transactional_id;
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

  // ---- Transactions: exactly-once consume -> transform -> produce (KIP-98, KIP-447) ----
  // Only for a producer built with ProducerConfig::transactional_id. InitTransactions once, before
  // the first send (it fences older producers with the same id and aborts what they left open);
  // then per unit of work: BeginTransaction; the sends; SendOffsetsToTransaction with the input
  // positions and the Consumer they were read with; CommitTransaction. The records and the input
  // positions become visible together, to read_committed consumers (librdkafka's default
  // isolation level and so ours), when CommitTransaction returns OK — or never, after
  // AbortTransaction. Delivery reports keep their meaning: OK = written to the log (not yet
  // committed); records of an aborted transaction are reported failed (purged).
  // Errors of these calls: kFailedPrecondition for a producer without transactional_id, a call
  // out of order, or a consumer without a group; IsRetriable: call the same method again;
  // TransactionMustAbort (code kAborted): call AbortTransaction, rewind the input to the committed
  // positions and redo the work; IsFatal (code kAborted; e.g. fenced by a newer producer with the
  // same id): the producer is unusable, build a new one. A timeout is kDeadlineExceeded, retriable.
  // Thread-safety: call these from one thread, one transaction at a time; the transaction's
  // sends may come from any thread. Destroying the producer aborts an open transaction (within
  // close_timeout).
  absl::Status InitTransactions(std::chrono::milliseconds timeout);
  absl::Status BeginTransaction();
  // `offsets`: the next offset to read per input partition (as Consumer::Commit takes them);
  // `consumer`: the group member that read them (its group metadata fences zombies, KIP-447).
  // Bounded even where librdkafka is not: its call can wait forever when the group coordinator's
  // node goes away at the wrong moment (librdkafka #5456, seen with 2.14.2). If it has not returned
  // 5 s after `timeout`, this returns kDeadlineExceeded and the producer is done with transactions:
  // every later transactional call returns kDeadlineExceeded too ("replace the producer"). Build a
  // new producer with the same transactional_id: its InitTransactions aborts the open transaction.
  // Destroying the stuck producer does not wait for the call (its client is freed when the call
  // returns, on a thread of its own).
  absl::Status SendOffsetsToTransaction(const std::vector<TopicPartition>& offsets,
                                        const Consumer& consumer,
                                        std::chrono::milliseconds timeout);
  absl::Status CommitTransaction(std::chrono::milliseconds timeout);
  absl::Status AbortTransaction(std::chrono::milliseconds timeout);
  // Whether a transaction is open (begun, not yet committed or aborted).
  bool in_transaction() const;

  // The envelope settings in use (service, environment).
  const EnvelopeSettings& envelope_settings() const;

 private:
  struct Impl;
  explicit Producer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace messagecorps
