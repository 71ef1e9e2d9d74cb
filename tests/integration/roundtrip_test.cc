// Typed round trips on a real Apache Kafka: what was sent arrives once, decoded to its type, with
// the envelope and the standard headers.
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "messagecorps/metrics.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/type_registry.h"
#include "messagecorps/version.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using testing::CreateTopicOrFail;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::TestBrokers;
using testing::UniqueName;

// The foundation's acceptance test: 10,000 protobuf records into a 3-partition topic, consumed back
// by a consumer group; every record arrives exactly once.
TEST(RoundTrip, TenThousandImagesThroughThreePartitionsArriveOnce) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic_name = UniqueName("images");
  CreateTopicOrFail(brokers, topic_name, 3);
  Topic<protobuf::data::Image> topic(topic_name);

  constexpr int kCount = 10000;
  std::atomic<int> delivered{0}, failed{0};
  ProducerConfig pc;
  pc.on_delivery = [&](const DeliveryReport& r) { (r.status.ok() ? delivered : failed)++; };
  // Keyless records stick to one partition per batch (sticky.partitioning.linger.ms): 10,000 small
  // records make only a few batches, which sometimes all went to 2 of the 3 partitions. Without
  // stickiness each record picks a partition at random.
  pc.properties["sticky.partitioning.linger.ms"] = "0";
  auto producer = MakeProducer(brokers, pc);
  ASSERT_NE(producer, nullptr);
  protobuf::data::Image image;
  image.set_height(2);
  image.set_width(2);
  image.set_image_data(std::string(12, '\x7f'));
  for (int i = 0; i < kCount; ++i) {
    image.set_frame(i);
    image.mutable__message_data()->clear_trace_id();  // a new trace per frame
    ASSERT_TRUE(producer->Send(topic, image).ok());
  }
  ASSERT_TRUE(producer->Flush(60s).ok());
  EXPECT_EQ(delivered.load(), kCount);
  EXPECT_EQ(failed.load(), 0);

  auto consumer = MakeConsumer(brokers, {topic_name}, UniqueName("group"));
  ASSERT_NE(consumer, nullptr);
  auto got = PollUntil(*consumer, kCount, 90s);
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  std::set<int64_t> frames;
  std::set<int32_t> partitions;
  for (const auto& m : got) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    const auto* img = m.As<protobuf::data::Image>();
    ASSERT_NE(img, nullptr);
    EXPECT_TRUE(frames.insert(img->frame()).second) << "frame " << img->frame() << " twice";
    partitions.insert(m.partition());
    EXPECT_EQ(img->_message_data().offset(), m.offset());
    EXPECT_EQ(img->_message_data().partition(), m.partition());
  }
  EXPECT_EQ(frames.size(), static_cast<size_t>(kCount));
  EXPECT_EQ(*frames.begin(), 0);
  EXPECT_EQ(*frames.rbegin(), kCount - 1);
  EXPECT_EQ(partitions.size(), 3u);
  // Nothing more is waiting.
  auto extra = consumer->Poll(1s);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty());
  EXPECT_TRUE(consumer->Close(10s).ok());
}

// A consumer slower than its fetcher fills its local queue; librdkafka (< 2.3) then stops fetching
// until its broker thread wakes, up to a second later. The consumer wakes it (fetch_waker.h). With
// a 128 KiB queue and 1 KiB records: 11-15 wake-ups per run and 0.7-1.5 s for the 20,000 records;
// 10.6 s with the waker disabled (0 wake-ups; this test then fails). Every record still arrives
// exactly once and in order per partition.
TEST(RoundTrip, ConsumerRestartsAFetcherStoppedByAFullQueueAndLosesNothing) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic_name = UniqueName("fullqueue");
  CreateTopicOrFail(brokers, topic_name, 2);
  Topic<protobuf::data::Image> topic(topic_name);
  constexpr int kCount = 20000;
  {
    ProducerConfig pc;
    pc.properties["sticky.partitioning.linger.ms"] = "0";
    auto producer = MakeProducer(brokers, pc);
    ASSERT_NE(producer, nullptr);
    protobuf::data::Image image;
    image.set_image_data(std::string(1024, '\x11'));
    for (int i = 0; i < kCount; ++i) {
      image.set_frame(i);
      ASSERT_TRUE(producer->Send(topic, image).ok());
    }
    ASSERT_TRUE(producer->Flush(60s).ok());
  }
  ConsumerConfig config;
  config.metrics = std::make_shared<Metrics>();
  config.max_batch = 20;  // many small polls: the queue is seen filling and draining
  config.properties["queued.max.messages.kbytes"] = "128";
  config.properties["max.partition.fetch.bytes"] = "65536";
  auto consumer = MakeConsumer(brokers, {topic_name}, UniqueName("group"), config);
  ASSERT_NE(consumer, nullptr);
  const auto started = std::chrono::steady_clock::now();
  auto got = PollUntil(*consumer, kCount, 120s);
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(got.size(), static_cast<size_t>(kCount));
  std::set<int64_t> frames;
  std::map<int32_t, int64_t> last_offset;
  for (const auto& m : got) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    EXPECT_TRUE(frames.insert(m.As<protobuf::data::Image>()->frame()).second);
    auto [it, first] = last_offset.try_emplace(m.partition(), m.offset());
    if (!first) {
      EXPECT_EQ(m.offset(), it->second + 1) << "partition " << m.partition();
      it->second = m.offset();
    }
  }
  EXPECT_EQ(frames.size(), static_cast<size_t>(kCount));
  const uint64_t wakeups = config.metrics->Get(Counter::kFetchWakeups);
  std::cerr << kCount << " records through a 128 KiB queue in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms, "
            << wakeups << " fetch wake-ups (librdkafka " << LibrdkafkaVersion() << ")\n";
  if (FetchWakerNeeded()) {
    EXPECT_GT(wakeups, 0u) << "the full queue stopped the fetcher: it must be woken";
  } else {
    // librdkafka >= 2.3: no wake-ups; fetch.queue.backoff.ms=10 restarts the fetcher. With
    // librdkafka's default of 1 s, each of the ~160 queue-fulls (20 MB through 128 KiB) costs up
    // to a second: far over this bound, which leaves room for a loaded machine.
    EXPECT_EQ(wakeups, 0u);
    EXPECT_LT(took, 60s) << "the fetcher idled after full queues (fetch.queue.backoff.ms)";
  }
  EXPECT_TRUE(consumer->Close(10s).ok());
}

TEST(RoundTrip, ImageCarriesEnvelopeAndStandardHeaders) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic_name = UniqueName("image-envelope");
  CreateTopicOrFail(brokers, topic_name, 1);
  Topic<protobuf::data::Image> topic(topic_name);
  // CloudEvents binary mode is one setting away from the default (traceparent only).
  ProducerConfig standard;
  standard.headers = HeaderMode::kStandard;
  auto producer = MakeProducer(brokers, standard);
  protobuf::data::Image image;
  image.set_image_data("pixels");
  image.set_height(480);
  image.set_width(640);
  image.set_frame(42);
  auto report = producer->SendSync(topic, image);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->topic, topic_name);
  EXPECT_GE(report->offset, 0);
  EXPECT_EQ(report->uuid, image._message_data().uuid());
  EXPECT_EQ(image._message_data().sending_service(), "test");
  EXPECT_EQ(image._message_data().trace_id().size(), 32u);

  auto consumer = MakeConsumer(brokers, {topic_name}, UniqueName("group"));
  auto got = PollUntil(*consumer, 1, 60s);
  ASSERT_EQ(got.size(), 1u);
  const ReceivedMessage& m = got[0];
  ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
  EXPECT_EQ(m.encoding(), Encoding::kSeed);
  const auto* img = m.As<protobuf::data::Image>();
  ASSERT_NE(img, nullptr);
  EXPECT_EQ(img->image_data(), "pixels");
  EXPECT_EQ(img->frame(), 42);
  EXPECT_EQ(img->_message_data().uuid(), image._message_data().uuid());
  EXPECT_EQ(img->_message_data().trace_id(), image._message_data().trace_id());
  EXPECT_EQ(img->_message_data().offset(), report->offset);
  EXPECT_EQ(m.header("ce_type").value_or(""), "protobuf.data.Image");
  EXPECT_EQ(m.header("ce_id").value_or(""), image._message_data().uuid());
  EXPECT_EQ(m.header("ce_specversion").value_or(""), "1.0");
  EXPECT_EQ(m.header("mcorps-encoding").value_or(""), "seed");
  std::string traceparent(m.header("traceparent").value_or(""));
  EXPECT_EQ(traceparent.substr(3, 32), image._message_data().trace_id());
  EXPECT_EQ(std::string(m.trace().trace_id()), image._message_data().trace_id());
}

// HeaderMode::kCompact: three headers, and what the consumer needs from them still works (the
// encoding, the trace, the type check that sends a wrong-typed record to decode failure).
TEST(RoundTrip, CompactHeadersCarryTypeTraceAndEncodingOnly) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic_name = UniqueName("compact");
  CreateTopicOrFail(brokers, topic_name, 1);
  ProducerConfig config;
  config.headers = HeaderMode::kCompact;
  auto producer = MakeProducer(brokers, config);
  TopicOptions raw;
  raw.encoding = Encoding::kRaw;
  protobuf::data::Image image;
  image.set_frame(7);
  ASSERT_TRUE(producer->SendSync(Topic<protobuf::data::Image>(topic_name, raw), image).ok());
  // A Prediction into the Image topic: its compact ce_type gives it away.
  protobuf::predictions::Prediction prediction;
  ASSERT_TRUE(
      producer->SendSync(Topic<protobuf::predictions::Prediction>(topic_name, raw), prediction)
          .ok());

  TypeRegistry registry;
  ASSERT_TRUE(registry.Bind(Topic<protobuf::data::Image>(topic_name, raw)).ok());
  ConsumerConfig bound;
  bound.registry = &registry;
  auto consumer = MakeConsumer(brokers, {topic_name}, UniqueName("group"), bound);
  auto got = PollUntil(*consumer, 2, 60s);
  ASSERT_EQ(got.size(), 2u);
  Headers headers = got[0].headers();
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[0].first, "ce_type");
  EXPECT_EQ(headers[0].second, "protobuf.data.Image");
  EXPECT_EQ(headers[1].first, "traceparent");
  EXPECT_EQ(headers[1].second.substr(3, 32), image._message_data().trace_id());
  EXPECT_EQ(headers[2].first, "mcorps-encoding");
  EXPECT_EQ(headers[2].second, "raw");
  ASSERT_TRUE(got[0].decode_status().ok()) << got[0].decode_status();
  EXPECT_EQ(got[0].encoding(), Encoding::kRaw);
  EXPECT_EQ(got[0].As<protobuf::data::Image>()->frame(), 7);
  EXPECT_EQ(std::string(got[0].trace().trace_id()), image._message_data().trace_id());
  EXPECT_EQ(got[1].decode_status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(got[1].decode_status().message().find("protobuf.predictions.Prediction"),
            std::string::npos)
      << got[1].decode_status();
}

// Decoded messages are recycled (ReceivedMessage in consumer.h): a record decoded into a message
// that held an earlier one must show nothing of it — not its envelope strings, not its fields.
TEST(RoundTrip, RecycledMessagesCarryNothingOverFromEarlierRecords) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic_name = UniqueName("recycle");
  CreateTopicOrFail(brokers, topic_name, 1);
  auto producer = MakeProducer(brokers);
  TopicOptions raw;
  raw.encoding = Encoding::kRaw;
  Topic<protobuf::data::Image> topic(topic_name, raw);
  protobuf::data::Image full;
  full.set_image_data(std::string(1000, 'x'));
  full.set_source("camera-1");
  full.set_frame(1);
  ASSERT_TRUE(producer->SendSync(topic, full).ok());
  // Like the original's records from another writer: no envelope, no headers.
  protobuf::data::Image bare;
  bare.set_image_data("y");
  ASSERT_TRUE(producer->SendEncoded(topic_name, bare.SerializeAsString()).ok());
  ASSERT_TRUE(producer->SendSync(topic, full).ok());
  ASSERT_TRUE(producer->Flush(10s).ok());

  TypeRegistry registry;
  ASSERT_TRUE(registry.Bind(topic).ok());
  ConsumerConfig one_at_a_time;
  one_at_a_time.registry = &registry;
  one_at_a_time.max_batch = 1;
  auto consumer = MakeConsumer(brokers, {topic_name}, UniqueName("group"), one_at_a_time);
  std::vector<protobuf::data::Image> seen;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (seen.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    auto batch = consumer->Poll(200ms);  // the previous batch is gone: its message is pooled
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const ReceivedMessage& m : *batch) {
      ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
      seen.push_back(*m.As<protobuf::data::Image>());
    }
  }
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].source(), "camera-1");
  EXPECT_EQ(seen[1].image_data(), "y");
  EXPECT_EQ(seen[1].source(), "");
  EXPECT_EQ(seen[1].frame(), 0);
  EXPECT_EQ(seen[1]._message_data().uuid(), "");
  EXPECT_EQ(seen[1]._message_data().trace_id(), "");
  EXPECT_EQ(seen[1]._message_data().offset(), 1);  // filled on receive, as the original did
  EXPECT_EQ(seen[2].image_data(), full.image_data());
  EXPECT_EQ(seen[2]._message_data().uuid(), full._message_data().uuid());
}

TEST(RoundTrip, PredictionDerivedFromImageInheritsTheTrace) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string frames = UniqueName("frames"), predictions = UniqueName("predictions");
  CreateTopicOrFail(brokers, frames, 1);
  CreateTopicOrFail(brokers, predictions, 1);
  Topic<protobuf::data::Image> frames_topic(frames);
  TopicOptions raw;
  raw.encoding = Encoding::kRaw;
  Topic<protobuf::predictions::Prediction> predictions_topic(predictions, raw);
  auto producer = MakeProducer(brokers);
  protobuf::data::Image image;
  image.set_frame(7);
  ASSERT_TRUE(producer->SendSync(frames_topic, image).ok());

  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(registry.Bind(frames_topic).ok());
  ASSERT_TRUE(registry.Bind(predictions_topic).ok());
  ConsumerConfig cc;
  cc.registry = &registry;
  auto consumer = MakeConsumer(brokers, {frames}, UniqueName("predict"), cc);
  auto got = PollUntil(*consumer, 1, 60s);
  ASSERT_EQ(got.size(), 1u);

  protobuf::predictions::Prediction prediction;
  prediction.set_frame(got[0].As<protobuf::data::Image>()->frame());
  prediction.add_object("person");
  auto report = producer->SendSync(predictions_topic, prediction, SendOptions::DerivedFrom(got[0]));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(prediction._message_data().trace_id(), image._message_data().trace_id());
  EXPECT_EQ(prediction._message_data().parent_span_id(), image._message_data().span_id());
  EXPECT_NE(prediction._message_data().span_id(), image._message_data().span_id());

  auto reader = MakeConsumer(brokers, {predictions}, UniqueName("display"), cc);
  auto preds = PollUntil(*reader, 1, 60s);
  ASSERT_EQ(preds.size(), 1u);
  ASSERT_TRUE(preds[0].decode_status().ok()) << preds[0].decode_status();
  EXPECT_EQ(preds[0].encoding(), Encoding::kRaw);
  const auto* p = preds[0].As<protobuf::predictions::Prediction>();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->object(0), "person");
  EXPECT_EQ(p->_message_data().trace_id(), image._message_data().trace_id());
  EXPECT_EQ(std::string(preds[0].trace().trace_id()), image._message_data().trace_id());
}

}  // namespace
}  // namespace messagecorps

namespace messagecorps {
namespace {

// The original logged each received message with its uuid, timestamp, offset and partition; we do
// so at debug level.
TEST(RoundTrip, EachReceivedMessageIsLoggedAtDebugLevel) {
  const std::string brokers = testing::TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic_name = testing::UniqueName("logged");
  testing::CreateTopicOrFail(brokers, topic_name, 1);
  auto producer = testing::MakeProducer(brokers);
  protobuf::data::Image image;
  image.set_frame(3);
  ASSERT_TRUE(producer->SendSync(Topic<protobuf::data::Image>(topic_name), image).ok());

  std::ostringstream lines;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(lines);
  auto logger = std::make_shared<spdlog::logger>("receiver", sink);
  logger->set_level(spdlog::level::debug);
  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(registry.Bind(Topic<protobuf::data::Image>(topic_name)).ok());
  ConsumerConfig cc;
  cc.logger = logger;
  cc.registry = &registry;
  auto consumer = testing::MakeConsumer(brokers, {topic_name}, testing::UniqueName("g"), cc);
  auto got = testing::PollUntil(*consumer, 1, 60s);
  ASSERT_EQ(got.size(), 1u);
  logger->flush();
  EXPECT_NE(lines.str().find(image._message_data().uuid()), std::string::npos) << lines.str();

  logger->set_level(spdlog::level::info);  // and nothing per message above debug
  lines.str("");
  ASSERT_TRUE(producer->SendSync(Topic<protobuf::data::Image>(topic_name), image).ok());
  ASSERT_EQ(testing::PollUntil(*consumer, 1, 60s).size(), 1u);
  EXPECT_EQ(lines.str().find(image._message_data().uuid()), std::string::npos) << lines.str();
}

}  // namespace
}  // namespace messagecorps
