// mcorps_bench_macro: one measured run of one C++ contender against a real Kafka, as a child
// process of bench/python/run_bench.py (so its getrusage is its own). Prints one JSON object on
// stdout (latency consumers print "READY" first, once they are fetching).
//
//   mcorps_bench_macro --contender raw|messagecorps --mode MODE --brokers B --topic T
//                      --partitions P --size BYTES --count N [--rate MSG_PER_S] [--warmup N]
//                      [--encoding seed|raw|confluent] [--headers
//                      traceparent|standard|compact|none] [-X key=value]...
//   MODE: produce          send --warmup records and flush (untimed), then N records, timed until
//                          all are delivered
//         consume          read warmup + N records from the beginning of T (assign, no group),
//                          decoding them; timed from the first batch on
//         latency-produce  send warmup + N records at --rate, each carrying its send time
//         latency-consume  read warmup + N records, report end-to-end latency percentiles
//         backlog-consume  like consume, also sampling RSS (the 1M-record catch-up test)
//
// Both contenders use the same client settings: acks=all, enable.idempotence=true, linger.ms=5
// (messagecorps' producer defaults, set explicitly for raw), -X properties for both (e.g.
// compression.type=lz4); consumers read with batches of 500 and queued.min.messages=1000000,
// queued.max.messages.kbytes=65536 for both (the library's default cap is 32 MiB: BENCHMARKS.md,
// Memory).
#include <librdkafka/rdkafka.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_common.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/consumer.h"
#include "messagecorps/envelope.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "messagecorps/tracing.h"
#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

using mcbench::JsonLine;

struct Args {
  std::string contender;
  std::string mode;
  std::string brokers;
  std::string topic;
  int partitions = 1;
  size_t size = 100;
  int64_t count = 1000;
  double rate = 0;
  int64_t warmup = 0;
  std::string encoding = "raw";
  std::string headers = "traceparent";  // the producer's default (HeaderMode::kTraceparent)
  // raw only: "plain" (the payload bytes) or "messagecorps" (the bytes of a messagecorps record of
  // that payload: the encoded, stamped Image as value plus the headers of --headers), to tell the
  // cost of the record format from the cost of the library's code; or "protobuf" (what
  // hand-written librdkafka + protobuf code does: the stamped Image, raw encoding, no headers,
  // serialized for every record into one reused buffer, as code that builds each record must; its
  // consumer parses every value into one reused Image with ParseFromArray).
  std::string record = "plain";
  // raw consumers only: "batch" (rd_kafka_consume_batch_queue, 500) or "one"
  // (rd_kafka_consume_queue per record, how messagecorps' Consumer::Poll fetches since the
  // librdkafka 2.0.2 workaround).
  std::string poll = "batch";
  std::map<std::string, std::string> props;
  double timeout_s = 300;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "mcorps_bench_macro: %s\n", what.c_str());
  JsonLine j;
  j.Bool("ok", false).Str("error", what);
  std::cout << j.Text() << std::endl;
  std::exit(1);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + k);
      return argv[++i];
    };
    if (k == "--contender") {
      a.contender = next();
    } else if (k == "--mode") {
      a.mode = next();
    } else if (k == "--brokers") {
      a.brokers = next();
    } else if (k == "--topic") {
      a.topic = next();
    } else if (k == "--partitions") {
      a.partitions = std::stoi(next());
    } else if (k == "--size") {
      a.size = std::stoul(next());
    } else if (k == "--count") {
      a.count = std::stoll(next());
    } else if (k == "--rate") {
      a.rate = std::stod(next());
    } else if (k == "--warmup") {
      a.warmup = std::stoll(next());
    } else if (k == "--encoding") {
      a.encoding = next();
    } else if (k == "--headers") {
      a.headers = next();
    } else if (k == "--poll") {
      a.poll = next();
    } else if (k == "--record") {
      a.record = next();
    } else if (k == "--timeout") {
      a.timeout_s = std::stod(next());
    } else if (k == "-X") {
      std::string kv = next();
      auto eq = kv.find('=');
      if (eq == std::string::npos) Die("-X needs key=value");
      a.props[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      Die("unknown argument " + k);
    }
  }
  if (a.brokers.empty() || a.topic.empty()) Die("--brokers and --topic are required");
  return a;
}

// The measured phase: wall time, CPU of the whole process (librdkafka's threads included).
struct Phase {
  double t0 = 0;
  mcbench::Usage u0;
  void Start() {
    u0 = mcbench::ProcessUsage();
    t0 = mcbench::MonotonicSeconds();
  }
  void Finish(JsonLine& j, int64_t messages, double payload_bytes, double value_bytes) const {
    const double t1 = mcbench::MonotonicSeconds();
    const mcbench::Usage u1 = mcbench::ProcessUsage();
    const double secs = t1 - t0;
    // 0 when nothing was timed (a tiny run that arrived in the first batch).
    const bool timed = messages > 0 && secs > 0;
    j.Num("messages", static_cast<double>(messages))
        .Num("seconds", secs)
        .Num("msgs_per_s", timed ? static_cast<double>(messages) / secs : 0)
        .Num("mb_per_s", timed ? payload_bytes / secs / 1e6 : 0)
        .Num("value_bytes", value_bytes)
        .Num("cpu_user_s", u1.user - u0.user)
        .Num("cpu_sys_s", u1.sys - u0.sys)
        .Num("cpu_s", (u1.user - u0.user) + (u1.sys - u0.sys))
        .Num("maxrss_kb", static_cast<double>(u1.maxrss_kb));
  }
};

void Emit(JsonLine& j) {
  j.Bool("ok", true);
  // The librdkafka actually loaded (scripts/bench --current-librdkafka checks it).
  j.Str("librdkafka", rd_kafka_version_str());
  std::cout << j.Text() << std::endl;
}

// ---- payload carrying the send time and a sequence number (raw contender) -----------------------

void StampRaw(std::string& value, int64_t seq) {
  const int64_t now = mcbench::RealtimeNanos();
  std::memcpy(value.data(), &now, sizeof now);
  std::memcpy(value.data() + 8, &seq, sizeof seq);
}

void ReadRaw(const void* payload, size_t len, int64_t* sent_ns, int64_t* seq) {
  if (len < 16) {
    *sent_ns = 0;
    *seq = -1;
    return;
  }
  std::memcpy(sent_ns, payload, 8);
  std::memcpy(seq, static_cast<const char*>(payload) + 8, 8);
}

// Paces sends at `rate` per second from t0 (absolute schedule: no drift).
class Pacer {
 public:
  explicit Pacer(double rate) : rate_(rate), t0_(std::chrono::steady_clock::now()) {}
  void Wait(int64_t i) {
    if (rate_ <= 0) return;
    std::this_thread::sleep_until(
        t0_ + std::chrono::nanoseconds(static_cast<int64_t>(static_cast<double>(i) * 1e9 / rate_)));
  }

 private:
  double rate_;
  std::chrono::steady_clock::time_point t0_;
};

struct LatencyStats {
  std::vector<double> ms;
  void Report(JsonLine& j) const {
    j.Num("latency_samples", static_cast<double>(ms.size()))
        .Num("lat_p50_ms", mcbench::Percentile(ms, 50))
        .Num("lat_p99_ms", mcbench::Percentile(ms, 99))
        .Num("lat_max_ms", mcbench::Percentile(ms, 100));
  }
};

// ================================ raw librdkafka
// ==================================================

struct RawClient {
  rd_kafka_t* rk = nullptr;
  ~RawClient() {
    if (rk) rd_kafka_destroy(rk);
  }
};

std::atomic<int64_t> g_raw_delivered{0};
std::atomic<int64_t> g_raw_failed{0};

void RawDr(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  if (m->err) {
    g_raw_failed.fetch_add(1, std::memory_order_relaxed);
  } else {
    g_raw_delivered.fetch_add(1, std::memory_order_relaxed);
  }
}

rd_kafka_conf_t* RawConf(const Args& a, const std::map<std::string, std::string>& defaults) {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  char err[512];
  auto set = [&](const std::string& k, const std::string& v) {
    if (rd_kafka_conf_set(conf, k.c_str(), v.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK) {
      Die(std::string("conf ") + k + ": " + err);
    }
  };
  set("bootstrap.servers", a.brokers);
  for (const auto& [k, v] : defaults) set(k, v);
  for (const auto& [k, v] : a.props) set(k, v);
  return conf;
}

messagecorps::Encoding EncodingOf(const Args& a) {
  auto e = messagecorps::ParseEncoding(a.encoding);
  if (!e.ok()) Die(std::string(e.status().message()));
  return *e;
}

// The Image of a payload of a.size bytes as messagecorps sends it (its envelope stamped once);
// `env` receives the envelope.
protobuf::data::Image StampedImage(const Args& a, messagecorps::Envelope* env = nullptr) {
  protobuf::data::Image image;
  image.set_image_data(mcbench::Payload(a.size));
  image.set_width(640);
  image.set_height(480);
  auto stamped = messagecorps::Stamp(image, {"bench", protobuf::common::DEVELOPMENT});
  if (!stamped.ok()) Die(std::string(stamped.status().message()));
  if (env != nullptr) *env = *std::move(stamped);
  return image;
}

// The value and headers messagecorps would send for a payload of a.size bytes (stamped once).
std::string MessagecorpsRecord(const Args& a,
                               std::vector<std::pair<std::string, std::string>>* headers) {
  const messagecorps::EnvelopeSettings settings{"bench", protobuf::common::DEVELOPMENT};
  messagecorps::Envelope env;
  protobuf::data::Image image = StampedImage(a, &env);
  messagecorps::EncodeOptions options;
  options.encoding = EncodingOf(a);
  options.schema_id = 1;
  std::string value;
  if (auto s = messagecorps::Encode(image, options, &value); !s.ok()) Die(std::string(s.message()));
  auto add = [headers](std::string_view k, std::string_view v) { headers->emplace_back(k, v); };
  auto mode = messagecorps::ParseHeaderMode(a.headers);
  if (!mode.ok()) Die(std::string(mode.status().message()));
  const std::string& type = image.GetDescriptor()->full_name();
  switch (*mode) {
    case messagecorps::HeaderMode::kTraceparent:
      messagecorps::ForEachTraceparentHeader(env, type, true, options.encoding, value, add);
      break;
    case messagecorps::HeaderMode::kStandard:
      messagecorps::ForEachEnvelopeHeader(env, type, options.encoding,
                                          messagecorps::CloudEventsSource(settings.service), add);
      break;
    case messagecorps::HeaderMode::kCompact:
      messagecorps::ForEachCompactHeader(env, type, options.encoding, add);
      break;
    case messagecorps::HeaderMode::kNone:
      break;
  }
  return value;
}

void RawProduce(const Args& a, bool latency) {
  rd_kafka_conf_t* conf =
      RawConf(a, {{"acks", "all"}, {"enable.idempotence", "true"}, {"linger.ms", "5"}});
  rd_kafka_conf_set_dr_msg_cb(conf, RawDr);
  char err[512];
  RawClient c;
  c.rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!c.rk) Die(err);
  std::string value = mcbench::Payload(a.size);
  std::vector<std::pair<std::string, std::string>> headers;
  if (a.record == "messagecorps") {
    if (latency) Die("--record " + a.record + " is for throughput runs");
    value = MessagecorpsRecord(a, &headers);
  }
  const bool serialize = a.record == "protobuf";
  protobuf::data::Image image;  // --record protobuf: serialized into `value` for every record
  if (serialize) {
    if (latency) Die("--record " + a.record + " is for throughput runs");
    image = StampedImage(a);
  }
  const int64_t total = a.count + a.warmup;
  auto send = [&](int64_t i) {
    if (latency) StampRaw(value, i - a.warmup);
    if (serialize && !image.SerializeToString(&value)) Die("cannot serialize the Image");
    for (;;) {
      rd_kafka_resp_err_t e;
      if (headers.empty()) {
        e = rd_kafka_producev(c.rk, RD_KAFKA_V_TOPIC(a.topic.c_str()),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_END);
      } else {
        rd_kafka_headers_t* h = rd_kafka_headers_new(headers.size());
        for (const auto& [k, v] : headers) {
          rd_kafka_header_add(h, k.data(), static_cast<ssize_t>(k.size()), v.data(),
                              static_cast<ssize_t>(v.size()));
        }
        e = rd_kafka_producev(
            c.rk, RD_KAFKA_V_TOPIC(a.topic.c_str()), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_VALUE(value.data(), value.size()), RD_KAFKA_V_HEADERS(h), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) rd_kafka_headers_destroy(h);
      }
      if (e == RD_KAFKA_RESP_ERR_NO_ERROR) break;
      if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) Die(std::string("produce: ") + rd_kafka_err2str(e));
      rd_kafka_poll(c.rk, 10);
    }
    rd_kafka_poll(c.rk, 0);
  };
  int64_t i = 0;
  if (!latency) {
    // Untimed warm-up: connection, metadata, producer id (a fresh topic or idempotence set-up
    // sometimes costs a ~1 s retry, which must not count as throughput).
    for (; i < a.warmup; ++i) send(i);
    rd_kafka_flush(c.rk, static_cast<int>(a.timeout_s * 1000));
  }
  Phase phase;
  phase.Start();
  Pacer pacer(latency ? a.rate : 0);
  for (; i < total; ++i) {
    if (latency) pacer.Wait(i);
    send(i);
  }
  rd_kafka_resp_err_t fe = rd_kafka_flush(c.rk, static_cast<int>(a.timeout_s * 1000));
  if (fe) Die(std::string("flush: ") + rd_kafka_err2str(fe));
  JsonLine j;
  const int64_t timed = latency ? total : a.count;
  phase.Finish(j, timed, static_cast<double>(timed) * static_cast<double>(a.size),
               static_cast<double>(timed) * static_cast<double>(value.size()));
  if (g_raw_delivered.load() != total || g_raw_failed.load() != 0) {
    Die("delivered " + std::to_string(g_raw_delivered.load()) + " of " + std::to_string(total) +
        ", failed " + std::to_string(g_raw_failed.load()));
  }
  Emit(j);
}

// The consumer settings of both C++ consumers: messagecorps' defaults (src/consumer.cc) except the
// queue byte cap, 64 MiB here for both (the library's default is 32 MiB).
std::map<std::string, std::string> ConsumerDefaults(const Args& a) {
  return {{"group.id", "bench-" + a.topic},      {"enable.auto.commit", "false"},
          {"enable.auto.offset.store", "false"}, {"enable.partition.eof", "false"},
          {"queued.min.messages", "1000000"},    {"queued.max.messages.kbytes", "65536"}};
}

void RawConsume(const Args& a, bool latency) {
  rd_kafka_conf_t* conf = RawConf(a, ConsumerDefaults(a));
  char err[512];
  RawClient c;
  c.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!c.rk) Die(err);
  rd_kafka_poll_set_consumer(c.rk);
  rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(a.partitions);
  for (int p = 0; p < a.partitions; ++p) {
    rd_kafka_topic_partition_list_add(parts, a.topic.c_str(), p)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  }
  if (rd_kafka_assign(c.rk, parts)) Die("assign failed");
  rd_kafka_topic_partition_list_destroy(parts);
  rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(c.rk);
  std::vector<rd_kafka_message_t*> batch(500);

  const int64_t want = a.count + a.warmup;
  int64_t got = 0;
  double bytes = 0;
  LatencyStats lat;
  lat.ms.reserve(static_cast<size_t>(a.count));
  // Timed from the first batch on (connection set-up and offset lookup excluded, for every
  // contender alike).
  Phase phase;
  bool started = false;
  int64_t base = 0;
  double base_bytes = 0;
  uint64_t checksum = 0;
  const bool parse = a.record == "protobuf";
  protobuf::data::Image image;  // --record protobuf: every value is parsed into it
  if (latency) std::cout << "READY" << std::endl;
  const double deadline = mcbench::MonotonicSeconds() + a.timeout_s;
  while (got < want) {
    if (mcbench::MonotonicSeconds() > deadline) {
      Die("timeout: received " + std::to_string(got) + " of " + std::to_string(want));
    }
    ssize_t n = 0;
    // Latency runs always take records as soon as one is there: rd_kafka_consume_batch_queue waits
    // for a full batch of 500 or its timeout, which would measure the timeout, not the pipeline.
    if (a.poll == "one" || latency) {
      // As Consumer::Poll: wait for the first record, then take what is already queued.
      while (n < static_cast<ssize_t>(batch.size())) {
        rd_kafka_message_t* m = rd_kafka_consume_queue(queue, n == 0 ? 100 : 0);
        if (m == nullptr) break;
        batch[static_cast<size_t>(n++)] = m;
      }
    } else {
      n = rd_kafka_consume_batch_queue(queue, 100, batch.data(), batch.size());
    }
    if (n < 0) Die("consume_batch_queue failed");
    const int64_t now_ns = latency ? mcbench::RealtimeNanos() : 0;
    for (ssize_t i = 0; i < n; ++i) {
      rd_kafka_message_t* m = batch[static_cast<size_t>(i)];
      if (m->err) {
        std::fprintf(stderr, "consume error: %s\n", rd_kafka_message_errstr(m));
      } else {
        ++got;
        bytes += static_cast<double>(m->len);
        if (m->len > 0) checksum += static_cast<const unsigned char*>(m->payload)[m->len - 1];
        if (parse) {
          if (!image.ParseFromArray(m->payload, static_cast<int>(m->len))) Die("not an Image");
          checksum += image._message_data().uuid().size();
        }
        if (latency) {
          int64_t sent = 0, seq = 0;
          ReadRaw(m->payload, m->len, &sent, &seq);
          if (seq >= 0) lat.ms.push_back(static_cast<double>(now_ns - sent) / 1e6);
        }
      }
      rd_kafka_message_destroy(m);
    }
    if (!started && got > 0) {
      started = true;
      base = got;
      base_bytes = bytes;
      phase.Start();
    }
  }
  JsonLine j;
  phase.Finish(j, got - base, bytes - base_bytes, bytes - base_bytes);
  j.Num("checksum", static_cast<double>(checksum));
  if (latency) lat.Report(j);
  rd_kafka_queue_destroy(queue);
  rd_kafka_consumer_close(c.rk);
  Emit(j);
}

// ================================ messagecorps
// ====================================================

messagecorps::TopicOptions TopicOptionsOf(const Args& a) {
  messagecorps::TopicOptions o;
  o.encoding = EncodingOf(a);
  if (o.encoding == messagecorps::Encoding::kConfluent) o.schema_id = 1;
  return o;
}

void McProduce(const Args& a, bool latency) {
  messagecorps::ProducerConfig config;
  config.brokers = a.brokers;
  config.properties = a.props;
  config.metrics = std::make_shared<messagecorps::Metrics>();
  config.envelope = messagecorps::EnvelopeSettings{"bench", protobuf::common::DEVELOPMENT};
  auto header_mode = messagecorps::ParseHeaderMode(a.headers);
  if (!header_mode.ok()) Die(std::string(header_mode.status().message()));
  config.headers = *header_mode;
  auto producer = messagecorps::Producer::Create(config);
  if (!producer.ok()) Die(std::string(producer.status().message()));
  messagecorps::Topic<protobuf::data::Image> topic(a.topic, TopicOptionsOf(a));

  protobuf::data::Image image;
  image.set_image_data(mcbench::Payload(a.size));
  image.set_width(640);
  image.set_height(480);
  const int64_t total = a.count + a.warmup;
  auto send = [&](int64_t i) {
    image.set_frame(i - a.warmup);
    absl::Status s = (*producer)->Send(topic, image);
    if (!s.ok()) Die("send: " + std::string(s.message()));
  };
  int64_t i = 0;
  if (!latency) {  // untimed warm-up, as for raw
    for (; i < a.warmup; ++i) send(i);
    (void)(*producer)->Flush(std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000)));
  }
  Phase phase;
  phase.Start();
  Pacer pacer(latency ? a.rate : 0);
  for (; i < total; ++i) {
    if (latency) pacer.Wait(i);
    send(i);
  }
  absl::Status f =
      (*producer)->Flush(std::chrono::milliseconds(static_cast<int64_t>(a.timeout_s * 1000)));
  if (!f.ok()) Die("flush: " + std::string(f.message()));
  JsonLine j;
  const int64_t timed = latency ? total : a.count;
  phase.Finish(j, timed, static_cast<double>(timed) * static_cast<double>(a.size), 0);
  const auto delivered = config.metrics->Get(messagecorps::Counter::kDelivered);
  const auto failed = config.metrics->Get(messagecorps::Counter::kDeliveryFailed);
  if (static_cast<int64_t>(delivered) != total || failed != 0) {
    Die("delivered " + std::to_string(delivered) + " of " + std::to_string(total) + ", failed " +
        std::to_string(failed));
  }
  Emit(j);
}

void McConsume(const Args& a, bool latency, bool backlog) {
  messagecorps::TypeRegistry registry;
  if (auto s =
          registry.Bind(messagecorps::Topic<protobuf::data::Image>(a.topic, TopicOptionsOf(a)));
      !s.ok()) {
    Die(std::string(s.message()));
  }
  messagecorps::ConsumerConfig config;
  config.brokers = a.brokers;
  config.properties = a.props;
  // The same queue settings as the raw consumer (ConsumerDefaults), unless -X sets them: the
  // library's own default byte cap is lower (32 MiB, for the backlog memory bound; see
  // BENCHMARKS.md, Memory), which makes a consumer slower than its fetcher idle in librdkafka
  // 2.0.2 — a different setting, not a different library cost.
  // The backlog test measures the library's defaults (its memory bound).
  for (const auto& [k, v] : ConsumerDefaults(a)) {
    if (!backlog && k.rfind("queued.", 0) == 0) config.properties.emplace(k, v);
  }
  config.registry = &registry;
  config.group_id = "bench-" + a.topic;
  for (int p = 0; p < a.partitions; ++p) {
    config.assignment.push_back({a.topic, p, messagecorps::kOffsetBeginning});
  }
  auto consumer = messagecorps::Consumer::Create(config);
  if (!consumer.ok()) Die(std::string(consumer.status().message()));

  const int64_t want = a.count + a.warmup;
  int64_t got = 0;
  double bytes = 0, value_bytes = 0;
  LatencyStats lat;
  lat.ms.reserve(static_cast<size_t>(a.count));
  long peak_rss_sampled = 0;
  int64_t polls = 0;
  Phase phase;  // from the first batch on, as for raw
  bool started = false;
  int64_t base = 0;
  double base_bytes = 0, base_value_bytes = 0;
  if (latency) std::cout << "READY" << std::endl;
  const double deadline = mcbench::MonotonicSeconds() + a.timeout_s;
  while (got < want) {
    if (mcbench::MonotonicSeconds() > deadline) {
      Die("timeout: received " + std::to_string(got) + " of " + std::to_string(want));
    }
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(100));
    if (!batch.ok()) Die("poll: " + std::string(batch.status().message()));
    const double now_s = latency ? static_cast<double>(mcbench::RealtimeNanos()) / 1e9 : 0;
    for (const messagecorps::ReceivedMessage& r : *batch) {
      // Each record handled in its CONSUMER span, as a program polling a Consumer does (the
      // display): free with tracing off; the cost per record with it on (BENCHMARKS.md, Tracing).
      const messagecorps::tracing::Span process = messagecorps::tracing::StartProcess(r);
      if (!r.decode_status().ok()) Die("decode: " + std::string(r.decode_status().message()));
      const auto* image = r.As<protobuf::data::Image>();
      if (image == nullptr) Die("not an Image");
      ++got;
      bytes += static_cast<double>(image->image_data().size());
      value_bytes += static_cast<double>(r.value().size());
      if (latency && image->frame() >= 0) {
        lat.ms.push_back((now_s - image->_message_data().timestamp()) * 1e3);
      }
    }
    if (backlog && (++polls % 16) == 0) {
      peak_rss_sampled = std::max(peak_rss_sampled, mcbench::CurrentRssKb());
    }
    if (!started && got > 0) {
      started = true;
      base = got;
      base_bytes = bytes;
      base_value_bytes = value_bytes;
      phase.Start();
    }
  }
  JsonLine j;
  phase.Finish(j, got - base, bytes - base_bytes, value_bytes - base_value_bytes);
  if (latency) lat.Report(j);
  if (backlog) j.Num("sampled_peak_rss_kb", static_cast<double>(peak_rss_sampled));
  Emit(j);
  (void)(*consumer)->Close(std::chrono::seconds(5));
}

}  // namespace

int main(int argc, char** argv) {
  // With OTEL_* set (the +tracing contenders): export the queued spans before exiting.
  const messagecorps::tracing::ShutdownAtExit flush_spans;
  Args a = Parse(argc, argv);
  const bool latency = a.mode.rfind("latency-", 0) == 0;
  if (a.contender == "raw") {
    if (a.mode == "produce" || a.mode == "latency-produce") {
      RawProduce(a, latency);
    } else if (a.mode == "consume" || a.mode == "latency-consume" || a.mode == "backlog-consume") {
      RawConsume(a, latency);
    } else {
      Die("unknown mode " + a.mode);
    }
  } else if (a.contender == "messagecorps") {
    if (a.mode == "produce" || a.mode == "latency-produce") {
      McProduce(a, latency);
    } else if (a.mode == "consume" || a.mode == "latency-consume" || a.mode == "backlog-consume") {
      McConsume(a, latency, a.mode == "backlog-consume");
    } else {
      Die("unknown mode " + a.mode);
    }
  } else {
    Die("unknown contender " + a.contender);
  }
  return 0;
}
