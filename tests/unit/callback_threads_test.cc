// Our code that librdkafka's threads run — the statistics, log, error and delivery callbacks —
// while our own threads read what those callbacks write (metrics, a log sink, counters). Each test
// asserts that the callback really ran; their point is the `tsan` preset (scripts/sanitize tsan),
// whose suppressions no longer hide reports with a librdkafka frame (tests/support/tsan.supp):
// a race between a callback and our threads is reported there. On the embedded broker.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "messagecorps/embedded_broker.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "protobuf/data/ImageData.pb.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::UniqueName;

// Runs `read` on this thread until `done()` or `timeout` (then fails): our side of each race.
// 30 s: the callbacks come within a second or two on the mock cluster; more means they never do.
void ReadUntil(const std::function<void()>& read, const std::function<bool()>& done,
               std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  do {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the callback never ran";
    read();
    std::this_thread::sleep_for(1ms);
  } while (!done());
}

TEST(CallbackThreads, StatisticsUpdateMetricsWhileTheyAreReadAndRendered) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string topic = UniqueName("stats");
  ASSERT_TRUE((*broker)->CreateTopic(topic, 2).ok());
  auto metrics = std::make_shared<Metrics>("callback-test");
  ProducerConfig pc;
  pc.metrics = metrics;
  pc.statistics_interval = 100ms;
  auto producer = MakeProducer((*broker)->bootstrap_servers(), pc);
  ASSERT_NE(producer, nullptr);
  ConsumerConfig cc;
  cc.metrics = metrics;
  cc.statistics_interval = 100ms;
  auto consumer = MakeConsumer((*broker)->bootstrap_servers(), {topic}, UniqueName("g"), cc);
  ASSERT_NE(consumer, nullptr);

  // Records flow on another thread, so Poll (which serves the consumer's statistics) and the
  // producer's poller run beside this thread's reads.
  std::atomic<bool> stop{false};
  std::thread traffic([&] {
    Topic<Image> t(topic);
    for (int i = 0; !stop; ++i) {
      Image image;
      image.set_frame(i);
      (void)producer->Send(t, image);
      (void)consumer->Poll(10ms);
    }
  });
  size_t rendered = 0;
  ReadUntil(
      [&] {
        rendered += metrics->RenderPrometheus().size();
        (void)metrics->Snapshot();
      },
      [&] {
        MetricsSnapshot s = metrics->Snapshot();
        bool producer_stats = false, consumer_stats = false;
        for (const ClientGauges& c : s.clients) {
          producer_stats |= c.type == "producer" && c.txmsgs > 0;
          consumer_stats |= c.type == "consumer" && c.rxmsgs > 0;
        }
        return producer_stats && consumer_stats;
      });
  stop = true;
  traffic.join();
  EXPECT_GT(rendered, 0u);
}

TEST(CallbackThreads, LibrdkafkaLogsReachOurSinkWhileWeReadIt) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  auto sink = std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(10000);
  auto logger = MakeLogger("callback-test", logging::Format::kConsole, sink);
  logger->set_level(spdlog::level::debug);
  ProducerConfig pc;
  pc.logger = logger;
  pc.properties["debug"] = "broker,topic";  // log lines from librdkafka's own threads
  auto producer = MakeProducer((*broker)->bootstrap_servers(), pc);
  ASSERT_NE(producer, nullptr);
  Image image;
  ASSERT_TRUE(producer->Send(Topic<Image>(UniqueName("logs")), image).ok());
  ReadUntil([&] { (void)sink->last_formatted(); },
            [&] {
              for (const std::string& line : sink->last_formatted()) {
                if (line.find("rdkafka BROKER") != std::string::npos) return true;
              }
              return false;
            });
}

TEST(CallbackThreads, ErrorsOfAnUnreachableBrokerAreCountedWhileWeReadTheCounters) {
  auto metrics = std::make_shared<Metrics>("callback-test");
  ProducerConfig pc;
  pc.metrics = metrics;
  pc.logger = MakeLogger("callback-test", logging::Format::kConsole,
                         std::make_shared<spdlog::sinks::ostream_sink_mt>(std::cerr));
  pc.properties["reconnect.backoff.ms"] = "10";
  pc.properties["reconnect.backoff.max.ms"] = "50";
  pc.properties["message.timeout.ms"] = "500";  // the record fails soon, so closing is quick
  // Port 1: nothing listens there, so librdkafka reports transport and all-brokers-down errors.
  auto producer = MakeProducer("127.0.0.1:1", pc);
  ASSERT_NE(producer, nullptr);
  Image image;
  ASSERT_TRUE(producer->Send(Topic<Image>("nowhere"), image).ok());
  ReadUntil([&] { (void)metrics->RenderPrometheus(); },
            [&] { return metrics->Get(Counter::kClientErrors) > 0; });
}

TEST(CallbackThreads, DeliveryCallbacksRunBesideSendsFromSeveralThreads) {
  auto broker = EmbeddedBroker::Start();
  ASSERT_TRUE(broker.ok()) << broker.status();
  const std::string topic = UniqueName("deliveries");
  ASSERT_TRUE((*broker)->CreateTopic(topic, 3).ok());
  auto metrics = std::make_shared<Metrics>("callback-test");
  std::atomic<int> delivered{0};
  ProducerConfig pc;
  pc.metrics = metrics;
  auto producer = MakeProducer((*broker)->bootstrap_servers(), pc);
  ASSERT_NE(producer, nullptr);
  constexpr int kThreads = 3, kPerThread = 200;
  std::vector<std::thread> senders;
  for (int t = 0; t < kThreads; ++t) {
    senders.emplace_back([&, t] {
      Topic<Image> topic_of(topic);
      for (int i = 0; i < kPerThread; ++i) {
        Image image;
        image.set_frame(t * kPerThread + i);
        SendOptions options;
        options.on_delivery = [&](const DeliveryReport& r) {
          if (r.status.ok()) ++delivered;
        };
        EXPECT_TRUE(producer->Send(topic_of, image, options).ok());
      }
    });
  }
  ReadUntil([&] { (void)metrics->Snapshot(); },
            [&] { return delivered.load() == kThreads * kPerThread; });
  for (auto& s : senders) s.join();
  EXPECT_TRUE(producer->Flush(10s).ok());
  EXPECT_EQ(metrics->Get(Counter::kDelivered), uint64_t{kThreads * kPerThread});
}

}  // namespace
}  // namespace messagecorps
