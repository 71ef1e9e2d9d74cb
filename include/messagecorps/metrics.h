// messagecorps/metrics.h — counters, a handler-time histogram, an end-to-end latency histogram per
// topic and librdkafka gauges, exposed as Prometheus text (rendered by prometheus-cpp's
// TextSerializer, exposition format 0.0.4).
//
// One Metrics object is shared by a service's producer, consumer and router; they count what
// happens to messages (sent, delivered, received, decoded, dead-lettered, ...), time handlers, and
// feed it the statistics JSON librdkafka emits every `statistics.interval.ms`. A /metrics endpoint
// or the CLI reads it with RenderPrometheus() or Snapshot().
//
// Ownership: the caller owns the Metrics object and must keep it alive while clients hold a
// reference; it is neither copyable nor movable (clients keep pointers to it).
//
// Thread-safety: every method may be called from any thread at any time. Counters and the histogram
// are lock-free (relaxed atomics: totals are exact, but a reader racing with writers may see one
// counter updated before another). librdkafka gauges are replaced as a whole under a mutex, once
// per statistics interval.
//
// Errors: UpdateFromRdKafkaStats returns kInvalidArgument for text that is not a JSON object (the
// gauges are then left unchanged) and never throws (it runs on librdkafka's threads). Nothing else
// fails.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace messagecorps {

// What a message can go through. The Prometheus name of each is in the comment
// (`<prefix>_<name>_total`).
enum class Counter {
  kSent,            // messages_sent: handed to the producer
  kDelivered,       // messages_delivered: acknowledged by the broker
  kDeliveryFailed,  // delivery_failures: the delivery report carried an error
  kReceived,        // messages_received: records polled from Kafka
  kDecoded,         // messages_decoded: records decoded into their protobuf type
  kDecodeFailed,    // decode_failures: records that did not decode
  kDeadLettered,    // messages_dead_lettered: records sent to a dead-letter topic
  kHandlerErrors,   // handler_errors: handler calls that returned an error
  kRetries,         // retries: handler calls retried
  kSkipped,         // messages_skipped: records a lagging consumer skipped to catch up
  kClientErrors,    // client_errors: errors librdkafka reported (broker down, ...), retried by it
  kFetchWakeups,    // fetch_wakeups: requests that restarted a fetcher idle on a full queue
};
inline constexpr std::size_t kCounterCount = 12;

// librdkafka's per-partition consumer gauges (partitions >= 0 of consumer clients only).
struct PartitionGauges {
  std::string topic;
  std::int32_t partition = 0;
  std::int64_t consumer_lag =
      -1;                       // hi_offset - max(app, committed); -1 when librdkafka does not know
  std::int64_t fetchq_cnt = 0;  // messages pre-fetched, waiting to be polled
};

// librdkafka's per-broker gauges (internal brokers skipped).
struct BrokerGauges {
  std::string name;  // "host:port/nodeid"
  std::int64_t nodeid = -1;
  std::string state;  // "UP", "DOWN", "CONNECT", ...
  double rtt_avg_seconds = 0;
};

// The last statistics one librdkafka client (a producer or a consumer) reported.
struct ClientGauges {
  std::string type;           // "producer" or "consumer" (the stats' `type`), the `client` label
  std::string name;           // the handle's name, e.g. "rdkafka#consumer-1", the `client_id` label
  std::int64_t msg_cnt = 0;   // messages in producer queues
  std::int64_t msg_size = 0;  // bytes in producer queues
  std::int64_t replyq = 0;    // ops waiting for the application's poll
  std::int64_t tx = 0;        // requests sent to brokers (monotonic)
  std::int64_t rx = 0;        // responses received from brokers (monotonic)
  std::int64_t txmsgs = 0;    // messages produced (monotonic)
  std::int64_t rxmsgs = 0;    // messages consumed (monotonic)
  std::vector<PartitionGauges> partitions;  // sorted by topic, partition
  std::vector<BrokerGauges> brokers;        // sorted by name
};

// A plain copy of everything, for tests and the CLI.
struct MetricsSnapshot {
  std::uint64_t sent = 0;
  std::uint64_t delivered = 0;
  std::uint64_t delivery_failed = 0;
  std::uint64_t received = 0;
  std::uint64_t decoded = 0;
  std::uint64_t decode_failed = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t handler_errors = 0;
  std::uint64_t retries = 0;
  std::uint64_t skipped = 0;
  std::uint64_t client_errors = 0;
  std::uint64_t fetch_wakeups = 0;
  std::uint64_t handler_count = 0;  // observations in the handler-time histogram
  double handler_seconds_sum = 0;   // their sum
  // End-to-end latency observations per topic (ObserveEndToEndSeconds), sorted by topic.
  struct TopicLatency {
    std::string topic;
    std::uint64_t count = 0;
    double seconds_sum = 0;
  };
  std::vector<TopicLatency> end_to_end;
  std::vector<ClientGauges> clients;  // sorted by name
};

class Metrics {
 public:
  // Upper bounds (seconds, inclusive) of the handler-time histogram; +Inf is implicit.
  static constexpr std::array<double, 14> kHandlerSecondsBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

  // Upper bounds (seconds, inclusive) of the end-to-end latency histogram; +Inf is implicit.
  static constexpr std::array<double, 16> kEndToEndSecondsBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

  // `service`, when not empty, becomes a `service="..."` label on every sample.
  explicit Metrics(std::string service = {});
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  void Add(Counter counter, std::uint64_t n = 1) {
    counters_[static_cast<std::size_t>(counter)].value.fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t Get(Counter counter) const {
    return counters_[static_cast<std::size_t>(counter)].value.load(std::memory_order_relaxed);
  }

  // Records one handler call's duration. Negative values count as 0; NaN is ignored.
  void ObserveHandlerSeconds(double seconds);

  // Records the end-to-end latency of one record received from `topic`: from the record's
  // producer timestamp to its receipt (`<prefix>_end_to_end_latency_seconds{topic=...}`; the
  // consumer calls it for every record with a CreateTime timestamp). Negative values (clock skew
  // between hosts) count as 0; NaN is ignored. The first record of a topic allocates its series
  // (under a lock); later ones take a shared lock and the series' own lock, no allocation.
  void ObserveEndToEndSeconds(std::string_view topic, double seconds);

  // Replaces the gauges of the client that produced `stats_json`, keyed by its `name`
  // (librdkafka's handle name: client.id, '#', its type and a number, unique in the process), so
  // every client sharing one Metrics keeps its own gauges. Unknown fields are ignored, missing or
  // non-numeric ones read as 0. kInvalidArgument when the text is not a JSON object; the gauges
  // are then unchanged.
  absl::Status UpdateFromRdKafkaStats(std::string_view stats_json);
  // Drops the gauges of the client named `name` (the clients call it when they are destroyed, so
  // /metrics shows no stale clients). Unknown names are ignored.
  void ForgetClient(std::string_view name);

  // Prometheus text exposition format 0.0.4. Metric names start with `prefix` + "_" (characters
  // outside [a-zA-Z0-9_:] become '_'; an empty prefix adds nothing). Families appear in a fixed
  // order; librdkafka families only once statistics arrived.
  std::string RenderPrometheus(std::string_view prefix = "messagecorps") const;

  MetricsSnapshot Snapshot() const;

  const std::string& service() const { return service_; }

 private:
  // One cache line per counter: the producer's delivery thread and the consumer's poll thread
  // update different counters at once.
  struct alignas(64) PaddedCounter {
    std::atomic<std::uint64_t> value{0};
  };

  const std::string service_;
  std::array<PaddedCounter, kCounterCount> counters_;
  // Per bucket (not cumulative; the last one is +Inf); rendering accumulates.
  std::array<std::atomic<std::uint64_t>, kHandlerSecondsBuckets.size() + 1> handler_buckets_{};
  std::atomic<double> handler_seconds_sum_{0};

  mutable std::mutex gauges_mutex_;
  std::map<std::string, ClientGauges, std::less<>> clients_;  // by name; guarded by gauges_mutex_

  // prometheus-cpp's registry of the per-topic end-to-end histograms (metrics.cc).
  struct EndToEnd;
  const std::unique_ptr<EndToEnd> end_to_end_;
};

}  // namespace messagecorps
