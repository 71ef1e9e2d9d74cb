#include "messagecorps/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <initializer_list>
#include <nlohmann/json.hpp>
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

using Label = std::pair<std::string_view, std::string_view>;

// Label values escape backslash, double quote and newline; HELP text escapes backslash and newline.
void AppendEscaped(std::string& out, std::string_view s, bool quote) {
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (quote && c == '"') {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

// Go's strconv.FormatFloat(v, 'g', -1, 64) style, which Prometheus parses: shortest round trip.
std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return fmt::format("{}", v);
}

class Writer {
 public:
  Writer(std::string_view prefix, const std::string& service) : service_(service) {
    for (char c : prefix) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '_' || c == ':';
      prefix_ += ok ? c : '_';
    }
    if (!prefix_.empty() && prefix_[0] >= '0' && prefix_[0] <= '9') prefix_.insert(0, "_");
    if (!prefix_.empty()) prefix_ += '_';
  }

  void Family(std::string_view name, std::string_view type, std::string_view help) {
    out_ += "# HELP ";
    out_ += prefix_;
    out_ += name;
    out_ += ' ';
    AppendEscaped(out_, help, /*quote=*/false);
    out_ += "\n# TYPE ";
    out_ += prefix_;
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }

  void Sample(std::string_view name, std::initializer_list<Label> labels, std::string_view value) {
    out_ += prefix_;
    out_ += name;
    bool first = true;
    const auto label = [&](std::string_view key, std::string_view val) {
      out_ += first ? '{' : ',';
      first = false;
      out_ += key;
      out_ += "=\"";
      AppendEscaped(out_, val, /*quote=*/true);
      out_ += '"';
    };
    if (!service_.empty()) label("service", service_);
    for (const auto& [key, val] : labels) label(key, val);
    if (!first) out_ += '}';
    out_ += ' ';
    out_ += value;
    out_ += '\n';
  }

  std::string Take() { return std::move(out_); }

 private:
  const std::string& service_;
  std::string prefix_;
  std::string out_;
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

Metrics::Metrics(std::string service) : service_(std::move(service)) {}

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
  std::lock_guard lock(gauges_mutex_);
  for (const auto& [name, client] : clients_) s.clients.push_back(client);
  return s;
}

void Metrics::ForgetClient(std::string_view name) {
  std::lock_guard lock(gauges_mutex_);
  if (auto it = clients_.find(name); it != clients_.end()) clients_.erase(it);
}

std::string Metrics::RenderPrometheus(std::string_view prefix) const {
  Writer w(prefix, service_);

  for (const CounterInfo& info : kCounters) {
    const std::string name = fmt::format("{}_total", info.name);
    w.Family(name, "counter", info.help);
    w.Sample(name, {}, fmt::format("{}", Get(info.counter)));
  }

  // Read every bucket once, then accumulate: _count equals the +Inf bucket even while writers race.
  w.Family("handler_duration_seconds", "histogram", "Time spent in message handlers, in seconds.");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < handler_buckets_.size(); ++i) {
    cumulative += handler_buckets_[i].load(std::memory_order_relaxed);
    const std::string le =
        i < kHandlerSecondsBuckets.size() ? FormatValue(kHandlerSecondsBuckets[i]) : "+Inf";
    w.Sample("handler_duration_seconds_bucket", {{"le", le}}, fmt::format("{}", cumulative));
  }
  w.Sample("handler_duration_seconds_sum", {},
           FormatValue(handler_seconds_sum_.load(std::memory_order_relaxed)));
  w.Sample("handler_duration_seconds_count", {}, fmt::format("{}", cumulative));

  std::lock_guard lock(gauges_mutex_);
  if (clients_.empty()) return w.Take();

  struct ClientFamily {
    std::string_view name, type, help;
    std::int64_t ClientGauges::*field;
  };
  static constexpr ClientFamily kClientFamilies[] = {
      {"rdkafka_queue_messages", "gauge", "Messages in librdkafka's producer queues.",
       &ClientGauges::msg_cnt},
      {"rdkafka_queue_bytes", "gauge", "Bytes in librdkafka's producer queues.",
       &ClientGauges::msg_size},
      {"rdkafka_reply_queue_ops", "gauge", "Ops waiting for the application to poll.",
       &ClientGauges::replyq},
      {"rdkafka_requests_sent_total", "counter", "Requests librdkafka sent to brokers.",
       &ClientGauges::tx},
      {"rdkafka_responses_received_total", "counter", "Responses librdkafka received from brokers.",
       &ClientGauges::rx},
      {"rdkafka_messages_produced_total", "counter", "Messages librdkafka transmitted to brokers.",
       &ClientGauges::txmsgs},
      {"rdkafka_messages_consumed_total", "counter", "Messages librdkafka consumed from brokers.",
       &ClientGauges::rxmsgs},
  };
  for (const ClientFamily& family : kClientFamilies) {
    w.Family(family.name, family.type, family.help);
    for (const auto& [name, client] : clients_) {
      w.Sample(family.name, {{"client", client.type}, {"client_id", name}},
               fmt::format("{}", client.*family.field));
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
    w.Family("rdkafka_consumer_lag_messages", "gauge",
             "Messages between the partition's high watermark and the consumer's position.");
    for (const auto& [name, client] : clients_) {
      for (const auto& p : client.partitions) {
        if (p.consumer_lag < 0) continue;  // unknown yet: no sample rather than a false -1
        w.Sample("rdkafka_consumer_lag_messages",
                 {{"client", client.type},
                  {"client_id", name},
                  {"topic", p.topic},
                  {"partition", std::to_string(p.partition)}},
                 fmt::format("{}", p.consumer_lag));
      }
    }
  }
  if (any_partition) {
    w.Family("rdkafka_fetch_queue_messages", "gauge",
             "Messages pre-fetched by librdkafka, waiting to be polled.");
    for (const auto& [name, client] : clients_) {
      for (const auto& p : client.partitions) {
        w.Sample("rdkafka_fetch_queue_messages",
                 {{"client", client.type},
                  {"client_id", name},
                  {"topic", p.topic},
                  {"partition", std::to_string(p.partition)}},
                 fmt::format("{}", p.fetchq_cnt));
      }
    }
  }
  if (any_broker) {
    w.Family("rdkafka_broker_rtt_avg_seconds", "gauge",
             "Average broker round-trip time over librdkafka's last window, in seconds.");
    for (const auto& [name, client] : clients_) {
      for (const auto& b : client.brokers) {
        w.Sample("rdkafka_broker_rtt_avg_seconds",
                 {{"client", client.type}, {"client_id", name}, {"broker", b.name}},
                 FormatValue(b.rtt_avg_seconds));
      }
    }
    w.Family("rdkafka_broker_up", "gauge", "1 when librdkafka's connection to the broker is UP.");
    for (const auto& [name, client] : clients_) {
      for (const auto& b : client.brokers) {
        w.Sample("rdkafka_broker_up",
                 {{"client", client.type}, {"client_id", name}, {"broker", b.name}},
                 b.state == "UP" ? "1" : "0");
      }
    }
  }
  return w.Take();
}

}  // namespace messagecorps
