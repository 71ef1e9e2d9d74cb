#include "messagecorps/metrics.h"

#include <fmt/format.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <shared_mutex>
#include <tuple>
#include <utility>

namespace messagecorps {
namespace {

using Json = nlohmann::json;

struct CounterInfo {
  Counter counter;
  std::string_view name;  // without prefix and `_total`
  std::string_view help;
};

constexpr std::array<CounterInfo, kCounterCount> kCounters = {{
    {Counter::kSent, "messages_sent", "Messages handed to the producer."},
    {Counter::kDelivered, "messages_delivered", "Messages acknowledged by the broker."},
    {Counter::kDeliveryFailed, "delivery_failures", "Messages whose delivery report was an error."},
    {Counter::kReceived, "messages_received", "Records polled from Kafka."},
    {Counter::kDecoded, "messages_decoded", "Records decoded into their protobuf type."},
    {Counter::kDecodeFailed, "decode_failures", "Records that failed to decode."},
    {Counter::kDeadLettered, "messages_dead_lettered", "Records sent to a dead-letter topic."},
    {Counter::kHandlerErrors, "handler_errors", "Handler calls that returned an error."},
    {Counter::kRetries, "retries", "Handler calls retried."},
    {Counter::kSkipped, "messages_skipped", "Records skipped by a lagging consumer to catch up."},
    {Counter::kClientErrors, "client_errors",
     "Kafka client errors (broker down, ...), retried by the client."},
    {Counter::kFetchWakeups, "fetch_wakeups",
     "Requests that woke a broker thread whose fetcher stopped at a full consumer queue."},
}};

constexpr bool CountersInEnumOrder() {
  for (std::size_t i = 0; i < kCounters.size(); ++i) {
    if (static_cast<std::size_t>(kCounters[i].counter) != i) return false;
  }
  return true;
}
static_assert(CountersInEnumOrder(), "kCounters must list every Counter in enum order");

// Metric names: the sanitized prefix + "_" + the family's name. Text formatting, escaping and the
// family layout are prometheus-cpp's (TextSerializer); this only builds its MetricFamily values.
std::string SanitizedPrefix(std::string_view prefix) {
  std::string out;
  for (char c : prefix) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == ':';
    out += ok ? c : '_';
  }
  if (!out.empty() && out[0] >= '0' && out[0] <= '9') out.insert(0, "_");
  if (!out.empty()) out += '_';
  return out;
}

class Families {
 public:
  Families(std::string_view prefix, const std::string& service)
      : prefix_(SanitizedPrefix(prefix)), service_(service) {}

  void Family(std::string_view name, prometheus::MetricType type, std::string_view help) {
    prometheus::MetricFamily& f = families_.emplace_back();
    f.name = prefix_ + std::string(name);
    f.help = std::string(help);
    f.type = type;
  }

  // A sample of the last family; labels after the service label.
  prometheus::ClientMetric& Sample(
      std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {}) {
    prometheus::ClientMetric& m = families_.back().metric.emplace_back();
    if (!service_.empty()) m.label.push_back({"service", service_});
    for (const auto& [key, value] : labels)
      m.label.push_back({std::string(key), std::string(value)});
    return m;
  }
  void Gauge(std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
             double value) {
    Sample(labels).gauge.value = value;
  }
  void CounterValue(std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                    double value) {
    Sample(labels).counter.value = value;
  }

  // Families collected from a prometheus-cpp registry, renamed with the prefix.
  void Append(std::vector<prometheus::MetricFamily> collected) {
    for (auto& f : collected) {
      f.name.insert(0, prefix_);
      families_.push_back(std::move(f));
    }
  }

  std::string Serialize() const { return prometheus::TextSerializer().Serialize(families_); }

 private:
  std::string prefix_;
  const std::string& service_;
  std::vector<prometheus::MetricFamily> families_;
};

std::int64_t IntField(const Json& object, const char* key) {
  if (!object.is_object()) return 0;
  const auto it = object.find(key);
  if (it == object.end()) return 0;
  if (it->is_number_integer()) return it->get<std::int64_t>();
  if (it->is_number_float()) return static_cast<std::int64_t>(it->get<double>());
  return 0;
}

std::string StringField(const Json& object, const char* key) {
  if (!object.is_object()) return {};
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get<std::string>();
}

const Json* ObjectField(const Json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_object()) return nullptr;
  return &*it;
}

ClientGauges ParseClient(const Json& stats) {
  ClientGauges client;
  client.type = StringField(stats, "type");
  if (client.type.empty()) client.type = "unknown";
  client.name = StringField(stats, "name");
  client.msg_cnt = IntField(stats, "msg_cnt");
  client.msg_size = IntField(stats, "msg_size");
  client.replyq = IntField(stats, "replyq");
  client.tx = IntField(stats, "tx");
  client.rx = IntField(stats, "rx");
  client.txmsgs = IntField(stats, "txmsgs");
  client.rxmsgs = IntField(stats, "rxmsgs");

  // A producer's partitions have no consumer lag and an empty fetch queue: noise, not gauges.
  if (const Json* topics = ObjectField(stats, "topics"); topics && client.type != "producer") {
    for (const auto& [topic_key, topic] : topics->items()) {
      std::string topic_name = StringField(topic, "topic");
      if (topic_name.empty()) topic_name = topic_key;
      const Json* partitions = ObjectField(topic, "partitions");
      if (partitions == nullptr) continue;
      for (const auto& [partition_key, partition] : partitions->items()) {
        if (!partition.is_object()) continue;
        const std::int64_t id = IntField(partition, "partition");
        if (id < 0) continue;  // -1 is librdkafka's internal UnAssigned partition
        client.partitions.push_back({topic_name, static_cast<std::int32_t>(id),
                                     IntField(partition, "consumer_lag"),
                                     IntField(partition, "fetchq_cnt")});
      }
    }
  }
  std::sort(client.partitions.begin(), client.partitions.end(), [](const auto& a, const auto& b) {
    return std::tie(a.topic, a.partition) < std::tie(b.topic, b.partition);
  });

  if (const Json* brokers = ObjectField(stats, "brokers")) {
    for (const auto& [broker_key, broker] : brokers->items()) {
      if (!broker.is_object() || StringField(broker, "source") == "internal") continue;
      BrokerGauges gauges;
      gauges.name = StringField(broker, "name");
      if (gauges.name.empty()) gauges.name = broker_key;
      gauges.nodeid = IntField(broker, "nodeid");
      gauges.state = StringField(broker, "state");
      if (const Json* rtt = ObjectField(broker, "rtt")) {
        gauges.rtt_avg_seconds = static_cast<double>(IntField(*rtt, "avg")) / 1e6;  // microseconds
      }
      client.brokers.push_back(std::move(gauges));
    }
  }
  std::sort(client.brokers.begin(), client.brokers.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  return client;
}

}  // namespace

struct Metrics::EndToEnd {
  explicit EndToEnd(const std::string& service)
      : family(prometheus::BuildHistogram()
                   .Name("end_to_end_latency_seconds")
                   .Help("Time from a record's producer timestamp to its receipt, in seconds.")
                   .Labels(service.empty() ? prometheus::Labels{}
                                           : prometheus::Labels{{"service", service}})
                   .Register(registry)) {}

  prometheus::Registry registry;
  prometheus::Family<prometheus::Histogram>& family;
  std::shared_mutex mutex;
  // Series by topic; the histograms live in `family` (stable addresses). Guarded by `mutex`.
  std::map<std::string, prometheus::Histogram*, std::less<>> by_topic;
};

Metrics::Metrics(std::string service)
    : service_(std::move(service)), end_to_end_(std::make_unique<EndToEnd>(service_)) {}

Metrics::~Metrics() = default;

void Metrics::ObserveEndToEndSeconds(std::string_view topic, double seconds) {
  if (std::isnan(seconds)) return;
  seconds = std::max(seconds, 0.0);
  EndToEnd& e = *end_to_end_;
  {
    std::shared_lock lock(e.mutex);
    if (auto it = e.by_topic.find(topic); it != e.by_topic.end()) {
      it->second->Observe(seconds);
      return;
    }
  }
  std::unique_lock lock(e.mutex);
  auto it = e.by_topic.find(topic);
  if (it == e.by_topic.end()) {
    static const prometheus::Histogram::BucketBoundaries kBounds(kEndToEndSecondsBuckets.begin(),
                                                                 kEndToEndSecondsBuckets.end());
    prometheus::Histogram& h = e.family.Add({{"topic", std::string(topic)}}, kBounds);
    it = e.by_topic.emplace(std::string(topic), &h).first;
  }
  it->second->Observe(seconds);
}

void Metrics::ObserveHandlerSeconds(double seconds) {
  if (std::isnan(seconds)) return;
  seconds = std::max(seconds, 0.0);
  // First bound >= seconds: `le` is inclusive. Past the last bound lands on +Inf.
  const auto bucket = static_cast<std::size_t>(
      std::lower_bound(kHandlerSecondsBuckets.begin(), kHandlerSecondsBuckets.end(), seconds) -
      kHandlerSecondsBuckets.begin());
  handler_buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  handler_seconds_sum_.fetch_add(seconds, std::memory_order_relaxed);
}

absl::Status Metrics::UpdateFromRdKafkaStats(std::string_view stats_json) {
  try {
    const Json stats = Json::parse(stats_json.begin(), stats_json.end(), /*cb=*/nullptr,
                                   /*allow_exceptions=*/false);
    if (stats.is_discarded()) {
      return absl::InvalidArgumentError("librdkafka statistics: malformed JSON");
    }
    if (!stats.is_object()) {
      return absl::InvalidArgumentError("librdkafka statistics: not a JSON object");
    }
    ClientGauges client = ParseClient(stats);
    std::string key = client.name.empty() ? client.type : client.name;
    std::lock_guard lock(gauges_mutex_);
    clients_.insert_or_assign(std::move(key), std::move(client));
    return absl::OkStatus();
  } catch (const std::exception& e) {
    // Runs on librdkafka's thread: nothing may escape.
    return absl::InternalError(fmt::format("librdkafka statistics: {}", e.what()));
  } catch (...) {
    return absl::InternalError("librdkafka statistics: unknown exception");
  }
}

MetricsSnapshot Metrics::Snapshot() const {
  MetricsSnapshot s;
  s.sent = Get(Counter::kSent);
  s.delivered = Get(Counter::kDelivered);
  s.delivery_failed = Get(Counter::kDeliveryFailed);
  s.received = Get(Counter::kReceived);
  s.decoded = Get(Counter::kDecoded);
  s.decode_failed = Get(Counter::kDecodeFailed);
  s.dead_lettered = Get(Counter::kDeadLettered);
  s.handler_errors = Get(Counter::kHandlerErrors);
  s.retries = Get(Counter::kRetries);
  s.skipped = Get(Counter::kSkipped);
  s.client_errors = Get(Counter::kClientErrors);
  s.fetch_wakeups = Get(Counter::kFetchWakeups);
  for (const auto& bucket : handler_buckets_) {
    s.handler_count += bucket.load(std::memory_order_relaxed);
  }
  s.handler_seconds_sum = handler_seconds_sum_.load(std::memory_order_relaxed);
  for (const prometheus::MetricFamily& f : end_to_end_->registry.Collect()) {
    for (const prometheus::ClientMetric& m : f.metric) {
      MetricsSnapshot::TopicLatency t;
      for (const auto& label : m.label) {
        if (label.name == "topic") t.topic = label.value;
      }
      t.count = m.histogram.sample_count;
      t.seconds_sum = m.histogram.sample_sum;
      s.end_to_end.push_back(std::move(t));
    }
  }
  std::sort(s.end_to_end.begin(), s.end_to_end.end(),
            [](const auto& a, const auto& b) { return a.topic < b.topic; });
  std::lock_guard lock(gauges_mutex_);
  for (const auto& [name, client] : clients_) s.clients.push_back(client);
  return s;
}

void Metrics::ForgetClient(std::string_view name) {
  std::lock_guard lock(gauges_mutex_);
  if (auto it = clients_.find(name); it != clients_.end()) clients_.erase(it);
}

std::string Metrics::RenderPrometheus(std::string_view prefix) const {
  using prometheus::MetricType;
  Families w(prefix, service_);

  for (const CounterInfo& info : kCounters) {
    w.Family(fmt::format("{}_total", info.name), MetricType::Counter, info.help);
    w.CounterValue({}, static_cast<double>(Get(info.counter)));
  }

  // Read every bucket once, then accumulate: _count equals the +Inf bucket even while writers race.
  w.Family("handler_duration_seconds", MetricType::Histogram,
           "Time spent in message handlers, in seconds.");
  prometheus::ClientMetric::Histogram& h = w.Sample().histogram;
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < handler_buckets_.size(); ++i) {
    cumulative += handler_buckets_[i].load(std::memory_order_relaxed);
    const double bound = i < kHandlerSecondsBuckets.size()
                             ? kHandlerSecondsBuckets[i]
                             : std::numeric_limits<double>::infinity();
    h.bucket.push_back({cumulative, bound});
  }
  h.sample_count = cumulative;
  h.sample_sum = handler_seconds_sum_.load(std::memory_order_relaxed);

  // Per-topic end-to-end latency: prometheus-cpp's own histograms (an empty family until the first
  // record arrives, which the serializer prints as HELP and TYPE only).
  w.Append(end_to_end_->registry.Collect());

  std::lock_guard lock(gauges_mutex_);
  if (clients_.empty()) return w.Serialize();

  struct ClientFamily {
    std::string_view name;
    MetricType type;
    std::string_view help;
    std::int64_t ClientGauges::*field;
  };
  static constexpr ClientFamily kClientFamilies[] = {
      {"rdkafka_queue_messages", MetricType::Gauge, "Messages in librdkafka's producer queues.",
       &ClientGauges::msg_cnt},
      {"rdkafka_queue_bytes", MetricType::Gauge, "Bytes in librdkafka's producer queues.",
       &ClientGauges::msg_size},
      {"rdkafka_reply_queue_ops", MetricType::Gauge, "Ops waiting for the application to poll.",
       &ClientGauges::replyq},
      {"rdkafka_requests_sent_total", MetricType::Counter, "Requests librdkafka sent to brokers.",
       &ClientGauges::tx},
      {"rdkafka_responses_received_total", MetricType::Counter,
       "Responses librdkafka received from brokers.", &ClientGauges::rx},
      {"rdkafka_messages_produced_total", MetricType::Counter,
       "Messages librdkafka transmitted to brokers.", &ClientGauges::txmsgs},
      {"rdkafka_messages_consumed_total", MetricType::Counter,
       "Messages librdkafka consumed from brokers.", &ClientGauges::rxmsgs},
  };
  for (const ClientFamily& family : kClientFamilies) {
    w.Family(family.name, family.type, family.help);
    for (const auto& [name, client] : clients_) {
      const auto value = static_cast<double>(client.*family.field);
      if (family.type == MetricType::Counter) {
        w.CounterValue({{"client", client.type}, {"client_id", name}}, value);
      } else {
        w.Gauge({{"client", client.type}, {"client_id", name}}, value);
      }
    }
  }

  bool any_lag = false;
  bool any_partition = false;
  bool any_broker = false;
  for (const auto& [name, client] : clients_) {
    any_partition = any_partition || !client.partitions.empty();
    any_broker = any_broker || !client.brokers.empty();
    for (const auto& p : client.partitions) any_lag = any_lag || p.consumer_lag >= 0;
  }
  if (any_lag) {
    w.Family("rdkafka_consumer_lag_messages", MetricType::Gauge,
             "Messages between the partition's high watermark and the consumer's position.");
    for (const auto& [name, client] : clients_) {
      for (const auto& p : client.partitions) {
        if (p.consumer_lag < 0) continue;  // unknown yet: no sample rather than a false -1
        w.Gauge({{"client", client.type},
                 {"client_id", name},
                 {"topic", p.topic},
                 {"partition", std::to_string(p.partition)}},
                static_cast<double>(p.consumer_lag));
      }
    }
  }
  if (any_partition) {
    w.Family("rdkafka_fetch_queue_messages", MetricType::Gauge,
             "Messages pre-fetched by librdkafka, waiting to be polled.");
    for (const auto& [name, client] : clients_) {
      for (const auto& p : client.partitions) {
        w.Gauge({{"client", client.type},
                 {"client_id", name},
                 {"topic", p.topic},
                 {"partition", std::to_string(p.partition)}},
                static_cast<double>(p.fetchq_cnt));
      }
    }
  }
  if (any_broker) {
    w.Family("rdkafka_broker_rtt_avg_seconds", MetricType::Gauge,
             "Average broker round-trip time over librdkafka's last window, in seconds.");
    for (const auto& [name, client] : clients_) {
      for (const auto& b : client.brokers) {
        w.Gauge({{"client", client.type}, {"client_id", name}, {"broker", b.name}},
                b.rtt_avg_seconds);
      }
    }
    w.Family("rdkafka_broker_up", MetricType::Gauge,
             "1 when librdkafka's connection to the broker is UP.");
    for (const auto& [name, client] : clients_) {
      for (const auto& b : client.brokers) {
        w.Gauge({{"client", client.type}, {"client_id", name}, {"broker", b.name}},
                b.state == "UP" ? 1 : 0);
      }
    }
  }
  return w.Serialize();
}

}  // namespace messagecorps
