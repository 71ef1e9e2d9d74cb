// mcorps_bench_gateway: one measured run through mcorps-gateway, or the same work with the library
// directly, against a real Kafka; driven by bench/python/gateway_bench.py (one child process per
// run, so its getrusage is its own). Prints one JSON object on stdout.
//
//   mcorps_bench_gateway --mode MODE --brokers B --topic T --partitions P --size BYTES --count N
//                        [--gateway HOST:PORT] [--concurrency C] [--streams S] [--rate R]
//                        [--batch B] [--warmup N] [-X key=value]...
//   MODE: direct-produce   the library's Producer (what an application linking messagecorps does)
//         grpc-unary       Publish calls, C in flight (callback API)
//         grpc-stream      PublishStream, S streams, one writer thread each; B records per request
//                          (PublishRequest.records) with --batch B > 1, else one message each
//         direct-consume   the library's Consumer reading N records from the beginning
//         grpc-subscribe   Subscribe (fan-out) reading N records from the beginning
//         direct-latency   Producer at R msg/s -> Consumer: end-to-end latency percentiles
//         grpc-latency     Publish at R msg/s -> Subscribe: the same through the gateway
//         grpc-publish-latency    Publish -> the library's Consumer  } which side adds
//         grpc-subscribe-latency  the library's Producer -> Subscribe } what (diagnostic)
// Payload: protobuf.data.Image with `size` bytes of image_data (bench_common.h's frame), to a
// topic the gateway binds to Image with raw encoding; the library runs use the same encoding and
// producer settings (acks=all, idempotence, linger.ms=5: the library's defaults, which the
// gateway's producer uses too). Latency runs put the send time (CLOCK_REALTIME ns) in
// Image.frame.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <thread>

#include "bench_common.h"
#include "messagecorps/admin.h"
#include "messagecorps/consumer.h"
#include "messagecorps/gateway/v1/gateway.grpc.pb.h"
#include "messagecorps/producer.h"
#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

namespace v1 = messagecorps::gateway::v1;
using mcbench::JsonLine;
using protobuf::data::Image;

struct Args {
  std::string mode, brokers, gateway, topic;
  int partitions = 1;
  size_t size = 1024;
  int64_t count = 10000;
  int concurrency = 64;
  int streams = 4;
  int batch = 1;  // grpc-stream: records per PublishRequest
  double rate = 1000;
  int64_t warmup = 100;
  std::map<std::string, std::string> props;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "mcorps_bench_gateway: %s\n", what.c_str());
  JsonLine j;
  j.Bool("ok", false).Str("error", what);
  std::cout << j.Text() << std::endl;
  std::exit(1);
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + k);
      return argv[++i];
    };
    if (k == "--mode")
      a.mode = next();
    else if (k == "--brokers")
      a.brokers = next();
    else if (k == "--gateway")
      a.gateway = next();
    else if (k == "--topic")
      a.topic = next();
    else if (k == "--partitions")
      a.partitions = std::stoi(next());
    else if (k == "--size")
      a.size = std::stoul(next());
    else if (k == "--count")
      a.count = std::stoll(next());
    else if (k == "--concurrency")
      a.concurrency = std::stoi(next());
    else if (k == "--streams")
      a.streams = std::stoi(next());
    else if (k == "--batch")
      a.batch = std::stoi(next());
    else if (k == "--rate")
      a.rate = std::stod(next());
    else if (k == "--warmup")
      a.warmup = std::stoll(next());
    else if (k == "-X") {
      const std::string kv = next();
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) Die("-X needs key=value");
      a.props[kv.substr(0, eq)] = kv.substr(eq + 1);
    } else {
      Die("unknown argument " + k);
    }
  }
  if (a.brokers.empty() || a.topic.empty() || a.mode.empty()) {
    Die("--mode, --brokers and --topic are required");
  }
  return a;
}

struct Phase {
  double t0 = 0;
  mcbench::Usage u0;
  void Start() {
    u0 = mcbench::ProcessUsage();
    t0 = mcbench::MonotonicSeconds();
  }
  void Finish(JsonLine& j, int64_t messages, size_t size) const {
    const double secs = mcbench::MonotonicSeconds() - t0;
    const mcbench::Usage u1 = mcbench::ProcessUsage();
    j.Num("messages", static_cast<double>(messages))
        .Num("seconds", secs)
        .Num("msgs_per_s", secs > 0 ? static_cast<double>(messages) / secs : 0)
        .Num("mb_per_s", secs > 0 ? static_cast<double>(messages * size) / secs / 1e6 : 0)
        .Num("cpu_s", (u1.user - u0.user) + (u1.sys - u0.sys));
  }
};

Image MakeImage(size_t size) {
  Image image;
  image.set_image_data(mcbench::Payload(size));
  image.set_width(640);
  image.set_height(480);
  return image;
}

messagecorps::EncodeOptions Raw() {
  messagecorps::EncodeOptions o;
  o.encoding = messagecorps::Encoding::kRaw;
  return o;
}

std::unique_ptr<v1::Gateway::Stub> Stub(const Args& a) {
  if (a.gateway.empty()) Die("--gateway is required for grpc modes");
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(64 << 20);
  return v1::Gateway::NewStub(
      grpc::CreateCustomChannel(a.gateway, grpc::InsecureChannelCredentials(), args));
}

// ---------------------------------------------------------------- producing

struct Delivered {
  std::atomic<int64_t> ok{0}, failed{0};
};

std::unique_ptr<messagecorps::Producer> MakeProducer(const Args& a, Delivered* d) {
  messagecorps::ProducerConfig pc;
  pc.brokers = a.brokers;
  pc.properties = a.props;
  pc.envelope = messagecorps::EnvelopeSettings{"bench", protobuf::common::DEVELOPMENT};
  pc.on_delivery = [d](const messagecorps::DeliveryReport& r) {
    (r.status.ok() ? d->ok : d->failed).fetch_add(1, std::memory_order_relaxed);
  };
  auto p = messagecorps::Producer::Create(pc);
  if (!p.ok()) Die(std::string(p.status().message()));
  return *std::move(p);
}

void DirectProduce(const Args& a) {
  Delivered d;
  auto producer = MakeProducer(a, &d);
  Image image = MakeImage(a.size);
  auto send = [&] {
    if (auto s = producer->SendMessage(a.topic, image, Raw()); !s.ok()) {
      Die(std::string(s.message()));
    }
  };
  for (int64_t i = 0; i < a.warmup; ++i) send();
  (void)producer->Flush(std::chrono::seconds(60));
  Phase phase;
  phase.Start();
  for (int64_t i = 0; i < a.count; ++i) send();
  if (auto s = producer->Flush(std::chrono::seconds(300)); !s.ok()) Die(std::string(s.message()));
  JsonLine j;
  phase.Finish(j, a.count, a.size);
  j.Num("failed", static_cast<double>(d.failed.load()));
  j.Bool("ok", d.failed == 0);
  std::cout << j.Text() << std::endl;
}

// Milliseconds since `sent_ns` (mcbench::RealtimeNanos).
double Ms(int64_t sent_ns) { return static_cast<double>(mcbench::RealtimeNanos() - sent_ns) / 1e6; }

// Up to `concurrency` unary Publish calls in flight.
class UnaryPublisher {
 public:
  UnaryPublisher(const Args& a, v1::Gateway::Stub* stub) : a_(a), stub_(stub) {
    template_.set_topic(a.topic);
    Image image = MakeImage(a.size);
    template_.mutable_message()->PackFrom(image);
  }

  // Sends one; `frame` replaces Image.frame when >= 0 (latency runs), and with `time_answer` the
  // time from then to the answer is kept (TakeAckedMs).
  void Send(int64_t frame = -1, bool time_answer = false) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return in_flight_ < a_.concurrency; });
      ++in_flight_;
    }
    auto* call = new Call;
    call->sent_ns = time_answer ? frame : -1;
    call->req = template_;
    if (frame >= 0) {
      Image image = MakeImage(a_.size);
      image.set_frame(frame);
      call->req.mutable_message()->PackFrom(image);
    }
    stub_->async()->Publish(&call->ctx, &call->req, &call->resp, [this, call](grpc::Status s) {
      if (!s.ok()) {
        failed_.fetch_add(1);
        if (first_error_.empty()) first_error_ = s.error_message();
      }
      const int64_t sent_ns = call->sent_ns;
      delete call;
      std::lock_guard lock(mu_);
      if (sent_ns >= 0) acked_ms_.push_back(Ms(sent_ns));
      --in_flight_;
      cv_.notify_all();
    });
  }
  void Drain() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return in_flight_ == 0; });
  }
  int64_t failed() const { return failed_.load(); }
  const std::string& first_error() const { return first_error_; }
  // Latency runs: from each send to its answer (the gateway answers once Kafka acknowledged).
  std::vector<double> TakeAckedMs() {
    std::lock_guard lock(mu_);
    return std::move(acked_ms_);
  }

 private:
  struct Call {
    int64_t sent_ns = -1;
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    v1::PublishResponse resp;
  };
  const Args& a_;
  v1::Gateway::Stub* stub_;
  v1::PublishRequest template_;
  std::mutex mu_;
  std::condition_variable cv_;
  int in_flight_ = 0;
  std::atomic<int64_t> failed_{0};
  std::string first_error_;
  std::vector<double> acked_ms_;
};

void GrpcUnary(const Args& a) {
  auto stub = Stub(a);
  UnaryPublisher publisher(a, stub.get());
  for (int64_t i = 0; i < a.warmup; ++i) publisher.Send();
  publisher.Drain();
  Phase phase;
  phase.Start();
  for (int64_t i = 0; i < a.count; ++i) publisher.Send();
  publisher.Drain();
  JsonLine j;
  phase.Finish(j, a.count, a.size);
  j.Num("concurrency", a.concurrency).Num("failed", static_cast<double>(publisher.failed()));
  if (publisher.failed() > 0) j.Str("first_error", publisher.first_error());
  j.Bool("ok", publisher.failed() == 0);
  std::cout << j.Text() << std::endl;
}

// One PublishStream of `n` messages, `batch` per request (PublishRequest.records when > 1);
// returns the failures.
int64_t StreamPublish(v1::Gateway::Stub* stub, const v1::PublishRequest& one, int batch,
                      int64_t n) {
  grpc::ClientContext ctx;
  auto stream = stub->PublishStream(&ctx);
  int64_t failed = 0, answered = 0;
  std::thread reader([&] {
    v1::PublishResponse resp;
    while (stream->Read(&resp)) {
      if (resp.results_size() == 0) {
        ++answered;
        if (resp.code() != 0) ++failed;
      }
      for (const v1::PublishResponse& r : resp.results()) {
        ++answered;
        if (r.code() != 0) ++failed;
      }
    }
  });
  v1::PublishRequest full;  // `batch` records, the topic once
  if (batch > 1) {
    full.set_topic(one.topic());
    for (int i = 0; i < batch; ++i) *full.add_records()->mutable_message() = one.message();
  }
  for (int64_t sent = 0; sent < n;) {
    const int64_t k = batch > 1 ? std::min<int64_t>(batch, n - sent) : 1;
    bool ok;
    if (batch <= 1) {
      ok = stream->Write(one);
    } else if (k == batch) {
      ok = stream->Write(full);
    } else {
      v1::PublishRequest last = full;
      last.mutable_records()->DeleteSubrange(static_cast<int>(k), batch - static_cast<int>(k));
      ok = stream->Write(last);
    }
    if (!ok) break;
    sent += k;
  }
  stream->WritesDone();
  reader.join();
  const grpc::Status s = stream->Finish();
  if (!s.ok()) Die("PublishStream: " + s.error_message());
  return failed + (n - answered);
}

void GrpcStream(const Args& a) {
  auto stub = Stub(a);
  v1::PublishRequest req;
  req.set_topic(a.topic);
  req.mutable_message()->PackFrom(MakeImage(a.size));
  StreamPublish(stub.get(), req, a.batch, a.warmup);
  Phase phase;
  phase.Start();
  std::atomic<int64_t> failed{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < a.streams; ++s) {
    const int64_t n = a.count / a.streams + (s < a.count % a.streams ? 1 : 0);
    threads.emplace_back([&, n] { failed += StreamPublish(stub.get(), req, a.batch, n); });
  }
  for (auto& t : threads) t.join();
  JsonLine j;
  phase.Finish(j, a.count, a.size);
  j.Num("streams", a.streams).Num("batch", a.batch);
  j.Num("failed", static_cast<double>(failed.load()));
  j.Bool("ok", failed == 0);
  std::cout << j.Text() << std::endl;
}

// ---------------------------------------------------------------- consuming

std::vector<messagecorps::TopicPartition> Assignment(const Args& a, int64_t offset) {
  std::vector<messagecorps::TopicPartition> out;
  for (int p = 0; p < a.partitions; ++p) out.push_back({a.topic, p, offset});
  return out;
}

std::unique_ptr<messagecorps::Consumer> MakeConsumer(
    const Args& a, std::vector<messagecorps::TopicPartition> assignment,
    messagecorps::TypeRegistry* registry) {
  messagecorps::ConsumerConfig cc;
  cc.brokers = a.brokers;
  cc.properties = a.props;
  cc.assignment = std::move(assignment);
  cc.registry = registry;
  auto c = messagecorps::Consumer::Create(cc);
  if (!c.ok()) Die(std::string(c.status().message()));
  return *std::move(c);
}

messagecorps::TypeRegistry RawRegistry(const Args& a) {
  messagecorps::TypeRegistry registry;
  messagecorps::TopicOptions raw;
  raw.encoding = messagecorps::Encoding::kRaw;
  if (auto s = registry.Bind(a.topic, Image::descriptor(), raw); !s.ok()) {
    Die(std::string(s.message()));
  }
  return registry;
}

void DirectConsume(const Args& a) {
  messagecorps::TypeRegistry registry = RawRegistry(a);
  auto consumer = MakeConsumer(a, Assignment(a, messagecorps::kOffsetBeginning), &registry);
  int64_t got = 0, bad = 0;
  Phase phase;
  bool started = false;
  while (got < a.count) {
    auto batch = consumer->Poll(std::chrono::milliseconds(1000));
    if (!batch.ok()) Die(std::string(batch.status().message()));
    if (!started && !batch->empty()) {
      phase.Start();  // from the first batch on (connection set-up is not throughput)
      started = true;
    }
    for (const auto& m : *batch) {
      if (m.As<Image>() == nullptr) ++bad;
      ++got;
    }
  }
  JsonLine j;
  phase.Finish(j, got, a.size);
  j.Num("undecoded", static_cast<double>(bad)).Bool("ok", bad == 0);
  std::cout << j.Text() << std::endl;
}

void GrpcSubscribe(const Args& a) {
  auto stub = Stub(a);
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_topic(a.topic);
  for (int p = 0; p < a.partitions; ++p) (*req.mutable_offsets()->mutable_offsets())[p] = 0;
  auto reader = stub->Subscribe(&ctx, req);
  v1::SubscribeResponse resp;
  int64_t got = 0, bad = 0;
  Phase phase;
  bool started = false;
  while (got < a.count && reader->Read(&resp)) {
    if (!started) {
      phase.Start();
      started = true;
    }
    for (const v1::Record& r : resp.records()) {
      if (!r.error().empty()) ++bad;
      ++got;
    }
  }
  JsonLine j;
  phase.Finish(j, got, a.size);
  ctx.TryCancel();
  reader->Finish();
  j.Num("undecoded", static_cast<double>(bad)).Bool("ok", bad == 0 && got >= a.count);
  std::cout << j.Text() << std::endl;
}

// ---------------------------------------------------------------- latency

std::map<int32_t, int64_t> HighWatermarks(const Args& a) {
  messagecorps::ClientConfig config;
  config.brokers = a.brokers;
  auto admin = messagecorps::AdminClient::Create(config);
  if (!admin.ok()) Die(std::string(admin.status().message()));
  auto info = (*admin)->DescribeTopic(a.topic, std::chrono::seconds(10));
  if (!info.ok()) Die(std::string(info.status().message()));
  std::map<int32_t, int64_t> out;
  for (const auto& p : info->partitions) out[p.id] = std::max<int64_t>(p.high, 0);
  return out;
}

// Percentiles of the end-to-end latencies `ms` and, where measured, of its parts:
// `to_producer_ms` from the send to the record's CreateTime, which librdkafka stamps when the
// record is handed to it, and `from_producer_ms` from then to receipt (read by the library's
// Consumer only; CreateTime has ms resolution, so the first part can come out slightly negative);
// `acked_ms` from the send to Kafka's acknowledgement (the delivery report, or the gateway's
// answer, which it sends on the delivery report).
void ReportLatency(const Args& a, std::vector<double>& ms, int64_t expected,
                   std::vector<double>* to_producer_ms = nullptr,
                   std::vector<double>* from_producer_ms = nullptr,
                   std::vector<double>* acked_ms = nullptr) {
  JsonLine j;
  j.Num("rate", a.rate)
      .Num("latency_samples", static_cast<double>(ms.size()))
      .Num("lat_p50_ms", mcbench::Percentile(ms, 50))
      .Num("lat_p99_ms", mcbench::Percentile(ms, 99))
      .Num("lat_max_ms", mcbench::Percentile(ms, 100));
  if (to_producer_ms != nullptr && !to_producer_ms->empty()) {
    j.Num("to_producer_p50_ms", mcbench::Percentile(*to_producer_ms, 50))
        .Num("to_producer_p99_ms", mcbench::Percentile(*to_producer_ms, 99))
        .Num("from_producer_p50_ms", mcbench::Percentile(*from_producer_ms, 50))
        .Num("from_producer_p99_ms", mcbench::Percentile(*from_producer_ms, 99));
  }
  if (acked_ms != nullptr && !acked_ms->empty()) {
    j.Num("acked_p50_ms", mcbench::Percentile(*acked_ms, 50))
        .Num("acked_p99_ms", mcbench::Percentile(*acked_ms, 99));
  }
  j.Bool("ok", static_cast<int64_t>(ms.size()) >= expected);
  std::cout << j.Text() << std::endl;
}

// End-to-end latency at a.rate msg/s, each side through the gateway or the library directly:
// direct-latency (neither), grpc-latency (both: unary Publish -> Subscribe), and, to tell which
// side adds what, grpc-publish-latency (Publish -> library Consumer) and grpc-subscribe-latency
// (library Producer -> Subscribe). Image.frame carries the send time.
void Latency(const Args& a, bool publish_via_gateway, bool subscribe_via_gateway) {
  const auto start = HighWatermarks(a);
  const int64_t total = a.warmup + a.count;
  const auto run_for = std::chrono::seconds(static_cast<int64_t>(total / a.rate) + 60);
  std::unique_ptr<v1::Gateway::Stub> stub;
  if (publish_via_gateway || subscribe_via_gateway) stub = Stub(a);

  std::vector<double> ms, to_producer_ms, from_producer_ms;
  ms.reserve(static_cast<size_t>(a.count));
  int64_t got = 0;
  std::atomic<int64_t> received{0};  // `got`, for the sending side
  auto seen = [&](const Image& image) {
    if (got++ >= a.warmup) ms.push_back(Ms(image.frame()));
    received.store(got, std::memory_order_relaxed);
  };
  // The receiving side, open before the first send.
  grpc::ClientContext ctx;
  // A lost record ends the run at this deadline instead of hanging.
  ctx.set_deadline(std::chrono::system_clock::now() + run_for);
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader;
  messagecorps::TypeRegistry registry = RawRegistry(a);
  std::unique_ptr<messagecorps::Consumer> consumer;
  std::thread receiver;
  if (subscribe_via_gateway) {
    v1::SubscribeRequest req;
    req.set_topic(a.topic);
    for (const auto& [p, o] : start) (*req.mutable_offsets()->mutable_offsets())[p] = o;
    reader = stub->Subscribe(&ctx, req);
    reader->WaitForInitialMetadata();
    receiver = std::thread([&] {
      v1::SubscribeResponse resp;
      Image image;
      while (got < total && reader->Read(&resp)) {
        for (const v1::Record& r : resp.records()) {
          if (r.message().UnpackTo(&image)) seen(image);
        }
      }
    });
  } else {
    std::vector<messagecorps::TopicPartition> assignment;
    for (const auto& [p, o] : start) assignment.push_back({a.topic, p, o});
    consumer = MakeConsumer(a, assignment, &registry);
    receiver = std::thread([&] {
      const auto deadline = std::chrono::steady_clock::now() + run_for;
      while (got < total && std::chrono::steady_clock::now() < deadline) {
        auto batch = consumer->Poll(std::chrono::milliseconds(100));
        if (!batch.ok()) continue;
        for (const auto& m : *batch) {
          if (const Image* image = m.As<Image>()) {
            if (got >= a.warmup && m.timestamp_ms() >= 0) {
              to_producer_ms.push_back(static_cast<double>(m.timestamp_ms()) -
                                       static_cast<double>(image->frame()) / 1e6);
              from_producer_ms.push_back(static_cast<double>(mcbench::RealtimeNanos()) / 1e6 -
                                         static_cast<double>(m.timestamp_ms()));
            }
            seen(*image);
          }
        }
      }
    });
  }

  // The sending side, at a fixed rate: the warm-up records first, then, once all of them are
  // acknowledged and received, the timed ones. (A fresh topic's first produce sometimes waits
  // ~1 s for a retry, and the connections and metadata of both sides are set up meanwhile: none of
  // that may fall into the timed records, where one such stall is the whole p99.)
  std::mutex acked_mu;
  std::vector<double> acked_ms;
  auto paced = [&](int64_t n, const std::function<void(int64_t)>& send) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n; ++i) {
      std::this_thread::sleep_until(t0 + std::chrono::nanoseconds(static_cast<int64_t>(
                                             static_cast<double>(i) * 1e9 / a.rate)));
      send(i);
    }
  };
  auto await_warmup_received = [&] {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (received.load(std::memory_order_relaxed) < a.warmup &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  };
  if (publish_via_gateway) {
    UnaryPublisher publisher(a, stub.get());
    paced(a.warmup, [&](int64_t) { publisher.Send(mcbench::RealtimeNanos()); });
    publisher.Drain();
    await_warmup_received();
    paced(a.count,
          [&](int64_t) { publisher.Send(mcbench::RealtimeNanos(), /*time_answer=*/true); });
    publisher.Drain();
    acked_ms = publisher.TakeAckedMs();
  } else {
    Delivered d;
    auto producer = MakeProducer(a, &d);
    Image image = MakeImage(a.size);
    auto send = [&](bool timed) {
      const int64_t sent_ns = mcbench::RealtimeNanos();
      image.set_frame(sent_ns);
      messagecorps::SendOptions options;
      if (timed) {
        options.on_delivery = [&, sent_ns](const messagecorps::DeliveryReport&) {
          std::lock_guard lock(acked_mu);
          acked_ms.push_back(Ms(sent_ns));
        };
      }
      if (auto s = producer->SendMessage(a.topic, image, Raw(), options); !s.ok()) {
        Die(std::string(s.message()));
      }
    };
    paced(a.warmup, [&](int64_t) { send(false); });
    (void)producer->Flush(std::chrono::seconds(60));
    await_warmup_received();
    paced(a.count, [&](int64_t) { send(true); });
    (void)producer->Flush(std::chrono::seconds(60));
  }
  receiver.join();
  if (reader) {
    ctx.TryCancel();
    reader->Finish();
  }
  ReportLatency(a, ms, a.count, &to_producer_ms, &from_producer_ms, &acked_ms);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = Parse(argc, argv);
  if (a.mode == "direct-produce")
    DirectProduce(a);
  else if (a.mode == "grpc-unary")
    GrpcUnary(a);
  else if (a.mode == "grpc-stream")
    GrpcStream(a);
  else if (a.mode == "direct-consume")
    DirectConsume(a);
  else if (a.mode == "grpc-subscribe")
    GrpcSubscribe(a);
  else if (a.mode == "direct-latency")
    Latency(a, false, false);
  else if (a.mode == "grpc-latency")
    Latency(a, true, true);
  else if (a.mode == "grpc-publish-latency")
    Latency(a, true, false);
  else if (a.mode == "grpc-subscribe-latency")
    Latency(a, false, true);
  else
    Die("unknown --mode " + a.mode);
  return 0;
}
