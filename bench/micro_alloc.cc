// Heap allocations per message, counted by the malloc interposer in alloc_counter.cc (every
// allocation of the process: operator new goes through malloc, librdkafka's C mallocs too).
//
// Counters per message (Google Benchmark user counters):
//   caller        allocations on the thread calling Stamp/Encode/Send/Poll (the hot path);
//   caller_ours / caller_protobuf / caller_rdkafka / ...   the same split by the library whose code
//                 asked for the memory (first non-libc/libstdc++ frame of the stack);
//   all           allocations of every thread of the process during the loop (librdkafka's broker
//                 and main threads included), split the same way (all_ours, all_rdkafka, ...).
// The embedded broker (librdkafka's mock cluster) runs in a forked child process, so its
// allocations are not counted.
#include <benchmark/benchmark.h>
#include <librdkafka/rdkafka.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "alloc_counter.h"
#include "bench_common.h"
#include "messagecorps/codec.h"
#include "messagecorps/consumer.h"
#include "messagecorps/embedded_broker.h"
#include "messagecorps/envelope.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

namespace alloc = mcbench::alloc;

std::string g_brokers;
constexpr int kPartitions = 4;

void Report(benchmark::State& state, const alloc::Counts& caller, const alloc::Counts& all,
            double messages) {
  state.counters["caller"] = static_cast<double>(caller.total) / messages;
  state.counters["all"] = static_cast<double>(all.total) / messages;
  for (int o = 0; o < alloc::kOwnerCount; ++o) {
    if (caller.by_owner[o]) {
      state.counters[std::string("caller_") + alloc::OwnerName(o)] =
          static_cast<double>(caller.by_owner[o]) / messages;
    }
    if (all.by_owner[o]) {
      state.counters[std::string("all_") + alloc::OwnerName(o)] =
          static_cast<double>(all.by_owner[o]) / messages;
    }
  }
}

protobuf::data::Image MakeImage(size_t size) {
  protobuf::data::Image image;
  image.set_image_data(mcbench::Payload(size));
  image.set_width(640);
  image.set_height(480);
  return image;
}

const messagecorps::EnvelopeSettings kSettings{"bench", protobuf::common::DEVELOPMENT};

// ---- Stamp / Encode -----------------------------------------------------------------------------

void BM_AllocStamp(benchmark::State& state) {
  protobuf::data::Image image = MakeImage(100);
  (void)messagecorps::Stamp(image, kSettings);  // first stamp grows the strings
  alloc::SetCallerThread();
  alloc::Start();
  for (auto _ : state) {
    auto env = messagecorps::Stamp(image, kSettings);
    benchmark::DoNotOptimize(env);
  }
  alloc::Stop();
  Report(state, alloc::CallerThread(), alloc::AllThreads(),
         static_cast<double>(state.iterations()));
}
BENCHMARK(BM_AllocStamp)->Iterations(100000);

void BM_AllocEncode(benchmark::State& state) {
  protobuf::data::Image image = MakeImage(100);
  (void)messagecorps::Stamp(image, kSettings);
  messagecorps::EncodeOptions options;
  options.encoding = static_cast<messagecorps::Encoding>(state.range(0));
  options.schema_id = 1;
  std::string out;
  (void)messagecorps::Encode(image, options, &out);
  alloc::SetCallerThread();
  alloc::Start();
  for (auto _ : state) {
    auto s = messagecorps::Encode(image, options, &out);
    benchmark::DoNotOptimize(s);
  }
  alloc::Stop();
  state.SetLabel(std::string(messagecorps::EncodingName(options.encoding)));
  Report(state, alloc::CallerThread(), alloc::AllThreads(),
         static_cast<double>(state.iterations()));
}
BENCHMARK(BM_AllocEncode)
    ->Arg(static_cast<int>(messagecorps::Encoding::kSeed))
    ->Arg(static_cast<int>(messagecorps::Encoding::kRaw))
    ->Arg(static_cast<int>(messagecorps::Encoding::kConfluent))
    ->Iterations(20000);

// ---- Producer::Send into the embedded broker ----------------------------------------------------

constexpr const char* kLongTopic = "alloc-send-a-topic-name-longer-than-15";

// range(0): encoding; range(1): 1 = standard headers, 0 = none, 2 = compact; range(2): 1 = a topic name longer
// than std::string's inline capacity.
void BM_AllocSend(benchmark::State& state) {
  messagecorps::ProducerConfig config;
  config.brokers = g_brokers;
  config.metrics = std::make_shared<messagecorps::Metrics>();
  config.envelope = kSettings;
  config.headers =
      state.range(1) == 1   ? messagecorps::HeaderMode::kStandard
      : state.range(1) == 2 ? messagecorps::HeaderMode::kCompact
                            : messagecorps::HeaderMode::kNone;
  auto producer = messagecorps::Producer::Create(config);
  if (!producer.ok()) {
    state.SkipWithError(std::string(producer.status().message()).c_str());
    return;
  }
  messagecorps::TopicOptions options;
  options.encoding = static_cast<messagecorps::Encoding>(state.range(0));
  messagecorps::Topic<protobuf::data::Image> topic(state.range(2) ? kLongTopic : "alloc-send",
                                                   options);
  protobuf::data::Image image = MakeImage(100);
  // Warm up: connection, metadata, buffers grown.
  for (int i = 0; i < 1000; ++i) (void)(*producer)->Send(topic, image);
  (void)(*producer)->Flush(std::chrono::seconds(30));

  alloc::SetCallerThread();
  alloc::Start();
  for (auto _ : state) {
    absl::Status s = (*producer)->Send(topic, image);
    if (!s.ok()) state.SkipWithError(std::string(s.message()).c_str());
  }
  const alloc::Counts in_send = alloc::CallerThread();
  absl::Status flushed = (*producer)->Flush(std::chrono::seconds(30));
  alloc::Stop();
  if (!flushed.ok()) state.SkipWithError(std::string(flushed.message()).c_str());
  state.SetLabel(std::string(messagecorps::EncodingName(options.encoding)) +
                 (state.range(1) == 1   ? " +headers"
                  : state.range(1) == 2 ? " +compact headers"
                                        : " no headers") +
                 (state.range(2) ? ", long topic name" : ""));
  Report(state, in_send, alloc::AllThreads(), static_cast<double>(state.iterations()));
}
BENCHMARK(BM_AllocSend)
    ->Args({static_cast<int>(messagecorps::Encoding::kRaw), 1, 0})
    ->Args({static_cast<int>(messagecorps::Encoding::kRaw), 2, 0})
    ->Args({static_cast<int>(messagecorps::Encoding::kRaw), 0, 0})
    ->Args({static_cast<int>(messagecorps::Encoding::kRaw), 0, 1})
    ->Args({static_cast<int>(messagecorps::Encoding::kSeed), 1, 0})
    ->Iterations(20000);

// The baseline: rd_kafka_producev of the same number of bytes (F_COPY), poll(0).
void BM_AllocSendRawLibrdkafka(benchmark::State& state) {
  char err[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers.c_str(), err, sizeof err);
  rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof err);
  rd_kafka_conf_set(conf, "acks", "all", err, sizeof err);
  rd_kafka_conf_set(conf, "linger.ms", "5", err, sizeof err);
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  const std::string value = mcbench::Payload(100);
  auto send = [&] {
    while (rd_kafka_producev(rk, RD_KAFKA_V_TOPIC("alloc-send"),
                             RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                             RD_KAFKA_V_VALUE(const_cast<char*>(value.data()), value.size()),
                             RD_KAFKA_V_END) == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
      rd_kafka_poll(rk, 10);
    }
    rd_kafka_poll(rk, 0);
  };
  for (int i = 0; i < 1000; ++i) send();
  rd_kafka_flush(rk, 30000);
  alloc::SetCallerThread();
  alloc::Start();
  for (auto _ : state) send();
  const alloc::Counts in_send = alloc::CallerThread();
  rd_kafka_flush(rk, 30000);
  alloc::Stop();
  Report(state, in_send, alloc::AllThreads(), static_cast<double>(state.iterations()));
  rd_kafka_destroy(rk);
}
BENCHMARK(BM_AllocSendRawLibrdkafka)->Iterations(20000);

// ---- receiving ----------------------------------------------------------------------------------

constexpr int kReceiveCount = 8000;

// The header modes of BM_AllocReceive's range(0), and the topic each is read from.
constexpr messagecorps::HeaderMode kReceiveModes[] = {messagecorps::HeaderMode::kStandard,
                                                      messagecorps::HeaderMode::kCompact,
                                                      messagecorps::HeaderMode::kNone};
const char* const kReceiveTopics[] = {"alloc-recv-mc", "alloc-recv-mc-compact",
                                      "alloc-recv-mc-none"};

// Fills `topic` with kReceiveCount 100 B Images (messagecorps, raw encoding, `headers`).
bool Fill(const std::string& topic_name, messagecorps::HeaderMode headers) {
  messagecorps::ProducerConfig config;
  config.brokers = g_brokers;
  config.envelope = kSettings;
  config.headers = headers;
  auto producer = messagecorps::Producer::Create(config);
  if (!producer.ok()) return false;
  messagecorps::TopicOptions options;
  options.encoding = messagecorps::Encoding::kRaw;
  messagecorps::Topic<protobuf::data::Image> topic(topic_name, options);
  protobuf::data::Image image = MakeImage(100);
  for (int i = 0; i < kReceiveCount; ++i) {
    image.set_frame(i);
    if (!(*producer)->Send(topic, image).ok()) return false;
  }
  return (*producer)->Flush(std::chrono::seconds(30)).ok();
}

// range(0): index into kReceiveModes (0 standard headers, 1 compact, 2 none).
void BM_AllocReceive(benchmark::State& state) {
  const auto mode = static_cast<size_t>(state.range(0));
  const std::string topic_name = kReceiveTopics[mode];
  static bool filled[3] = {Fill(kReceiveTopics[0], kReceiveModes[0]),
                           Fill(kReceiveTopics[1], kReceiveModes[1]),
                           Fill(kReceiveTopics[2], kReceiveModes[2])};
  if (!filled[mode]) {
    state.SkipWithError("could not fill the topic");
    return;
  }
  for (auto _ : state) {
    messagecorps::TypeRegistry registry;
    messagecorps::TopicOptions options;
    options.encoding = messagecorps::Encoding::kRaw;
    (void)registry.Bind(messagecorps::Topic<protobuf::data::Image>(topic_name, options));
    messagecorps::ConsumerConfig config;
    config.brokers = g_brokers;
    config.registry = &registry;
    config.group_id = "alloc-bench";
    for (int p = 0; p < kPartitions; ++p) {
      config.assignment.push_back({topic_name, p, messagecorps::kOffsetBeginning});
    }
    auto consumer = messagecorps::Consumer::Create(config);
    if (!consumer.ok()) {
      state.SkipWithError(std::string(consumer.status().message()).c_str());
      return;
    }
    int got = 0;
    // The first batch (connection, offsets, first fetch) is not counted.
    while (got == 0) {
      auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
      if (batch.ok()) got += static_cast<int>(batch->size());
    }
    const int base = got;
    alloc::SetCallerThread();
    alloc::Start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got < kReceiveCount && std::chrono::steady_clock::now() < deadline) {
      auto batch = (*consumer)->Poll(std::chrono::milliseconds(200));
      if (!batch.ok()) break;
      got += static_cast<int>(batch->size());
    }
    alloc::Stop();
    if (got < kReceiveCount) state.SkipWithError("not every record arrived");
    Report(state, alloc::CallerThread(), alloc::AllThreads(), static_cast<double>(got - base));
    state.counters["messages"] = got - base;
  }
}
BENCHMARK(BM_AllocReceive)->Arg(0)->Arg(1)->Arg(2)->Iterations(1);

void BM_AllocReceiveRawLibrdkafka(benchmark::State& state) {
  static const bool filled = Fill("alloc-recv-raw", messagecorps::HeaderMode::kStandard);
  if (!filled) {
    state.SkipWithError("could not fill the topic");
    return;
  }
  for (auto _ : state) {
    char err[512];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    rd_kafka_conf_set(conf, "bootstrap.servers", g_brokers.c_str(), err, sizeof err);
    rd_kafka_conf_set(conf, "group.id", "alloc-bench-raw", err, sizeof err);
    rd_kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd_kafka_conf_set(conf, "queued.min.messages", "1000000", err, sizeof err);
    rd_kafka_conf_set(conf, "queued.max.messages.kbytes", "65536", err, sizeof err);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t* parts = rd_kafka_topic_partition_list_new(kPartitions);
    for (int p = 0; p < kPartitions; ++p) {
      rd_kafka_topic_partition_list_add(parts, "alloc-recv-raw", p)->offset =
          RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    rd_kafka_queue_t* queue = rd_kafka_queue_get_consumer(rk);
    std::vector<rd_kafka_message_t*> batch(500);
    int got = 0;
    auto poll = [&] {
      ssize_t n = rd_kafka_consume_batch_queue(queue, 200, batch.data(), batch.size());
      for (ssize_t i = 0; i < n; ++i) {
        if (!batch[static_cast<size_t>(i)]->err) ++got;
        rd_kafka_message_destroy(batch[static_cast<size_t>(i)]);
      }
    };
    while (got == 0) poll();
    const int base = got;
    alloc::SetCallerThread();
    alloc::Start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (got < kReceiveCount && std::chrono::steady_clock::now() < deadline) poll();
    alloc::Stop();
    if (got < kReceiveCount) state.SkipWithError("not every record arrived");
    Report(state, alloc::CallerThread(), alloc::AllThreads(), static_cast<double>(got - base));
    state.counters["messages"] = got - base;
    rd_kafka_queue_destroy(queue);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
}
BENCHMARK(BM_AllocReceiveRawLibrdkafka)->Iterations(1);

// Runs the embedded broker in a child process (forked before any thread exists) so that its
// allocations stay out of the counts. Returns the bootstrap list; the child exits when `hold`
// closes (this process ends).
std::string StartBrokerProcess() {
  int to_parent[2], hold[2];
  if (pipe(to_parent) != 0 || pipe(hold) != 0) return {};
  const pid_t pid = fork();
  if (pid == 0) {
    close(to_parent[0]);
    close(hold[1]);
    auto broker = messagecorps::EmbeddedBroker::Start();
    std::string line = "\n";
    if (broker.ok()) {
      for (const char* t : {"alloc-send", kLongTopic, kReceiveTopics[0], kReceiveTopics[1],
                            kReceiveTopics[2], "alloc-recv-raw"}) {
        (void)(*broker)->CreateTopic(t, kPartitions);
      }
      line = (*broker)->bootstrap_servers() + "\n";
    }
    if (write(to_parent[1], line.data(), line.size()) < 0) _exit(1);
    char c;
    while (read(hold[0], &c, 1) > 0) {
    }
    _exit(0);
  }
  close(to_parent[1]);
  close(hold[0]);  // hold[1] stays open for this process' lifetime
  std::string bootstrap;
  char c;
  while (read(to_parent[0], &c, 1) == 1 && c != '\n') bootstrap += c;
  close(to_parent[0]);
  return bootstrap;
}

}  // namespace

int main(int argc, char** argv) {
  g_brokers = StartBrokerProcess();
  if (g_brokers.empty()) {
    std::fprintf(stderr, "micro_alloc: the embedded broker did not start\n");
    return 1;
  }
  alloc::Init();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const size_t ran = benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  if (ran == 0) {
    std::fprintf(stderr, "micro_alloc: no benchmark matched the filter\n");
    return 1;
  }
  return 0;
}
