// The router on a real Apache Kafka: Image -> Prediction with the trace inherited, garbage parked
// in the dead-letter topic with its reason while good records flow, retries publishing once, and a
// failing dead-letter publish stopping the router without committing.
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "messagecorps/codec.h"
#include "messagecorps/metrics.h"
#include "messagecorps/router.h"
#include "messagecorps/seed_topics.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using protobuf::predictions::Prediction;
using testing::CreateTopicOrFail;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::TestBrokers;
using testing::UniqueName;

class RouterOnKafka : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    ASSERT_FALSE(brokers_.empty());
    producer_ = MakeProducer(brokers_);
    ASSERT_NE(producer_, nullptr);
  }

  RouterConfig Config() {
    RouterConfig config;
    config.client.brokers = brokers_;
    config.consumer.group_id = UniqueName("router");
    config.consumer.start = StartOffset::kEarliest;
    config.consumer_properties["session.timeout.ms"] = "6000";
    config.consumer_properties["heartbeat.interval.ms"] = "500";
    config.producer.envelope = EnvelopeSettings{"predict", protobuf::common::DEVELOPMENT};
    config.poll_timeout = 50ms;
    return config;
  }

  // Runs `router` on a thread until `done()` holds (or the timeout), then stops it; returns what
  // Run returned.
  absl::Status RunUntil(Router& router, const std::function<bool()>& done,
                        std::chrono::milliseconds timeout = 45s) {
    absl::Status status;
    std::atomic<bool> finished{false};
    std::jthread thread([&](std::stop_token stop) {
      status = router.Run(stop);
      finished = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && !finished && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    router.Stop();
    thread.join();
    return status;
  }

  std::string brokers_;
  std::unique_ptr<Producer> producer_;
};

std::string Zlib(const std::string& bytes) {
  uLongf size = compressBound(bytes.size());
  std::string out(size, '\0');
  EXPECT_EQ(compress(reinterpret_cast<Bytef*>(out.data()), &size,
                     reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()),
            Z_OK);
  out.resize(size);
  return out;
}

HandlerResult Predict(const Image& image, const Topic<Prediction>& out_topic) {
  Prediction p;
  p.set_frame(image.frame());
  p.add_object("person");
  std::vector<Outgoing> out;
  out.push_back(Outgoing::Of(out_topic, std::move(p)));
  return out;
}

TEST_F(RouterOnKafka, ImageToPredictionInheritsTheTraceAndRecordsTheParentSpan) {
  const std::string frames = UniqueName("frames"), preds = UniqueName("preds");
  CreateTopicOrFail(brokers_, frames, 1);
  CreateTopicOrFail(brokers_, preds, 1);
  Topic<Image> frames_topic(frames);
  Topic<Prediction> preds_topic(preds);
  std::map<int64_t, Image> sent;
  for (int i = 0; i < 5; ++i) {
    Image image;
    image.set_frame(i);
    ASSERT_TRUE(producer_->SendSync(frames_topic, image).ok());
    sent[i] = image;  // stamped: uuid, trace id, span id
  }

  Router router(Config());
  ASSERT_TRUE(router
                  .Handle("predict", frames_topic,
                          [&](const Image& image, const ReceivedMessage&) {
                            return Predict(image, preds_topic);
                          })
                  .ok());
  ASSERT_TRUE(RunUntil(router, [&] { return router.Stats().handled == 5; }).ok());
  EXPECT_EQ(router.Stats().published, 5u);

  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(registry.Bind(preds_topic).ok());
  ConsumerConfig cc;
  cc.registry = &registry;
  auto reader = MakeConsumer(brokers_, {preds}, UniqueName("display"), cc);
  auto got = PollUntil(*reader, 5, 60s);
  ASSERT_EQ(got.size(), 5u);
  for (const auto& m : got) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    const Prediction* p = m.As<Prediction>();
    ASSERT_NE(p, nullptr) << "not a Prediction: "
                          << (m.message() ? m.message()->GetTypeName() : "nothing decoded");
    ASSERT_EQ(sent.count(p->frame()), 1u)
        << "a prediction of frame " << p->frame() << ", which was never sent";
    const Image& image = sent.at(p->frame());
    const auto& md = p->_message_data();
    EXPECT_EQ(md.trace_id(), image._message_data().trace_id());
    EXPECT_EQ(md.parent_span_id(), image._message_data().span_id());
    EXPECT_NE(md.span_id(), image._message_data().span_id());
    EXPECT_NE(md.uuid(), image._message_data().uuid());
    EXPECT_EQ(md.sending_service(), "predict");
    // The W3C header carries the same trace, with the prediction's own span.
    std::string traceparent(m.header(header::kTraceparent).value_or(""));
    EXPECT_EQ(traceparent, "00-" + md.trace_id() + "-" + md.span_id() + "-01");
  }
}

TEST_F(RouterOnKafka, GarbageGoesToTheDeadLetterTopicWhileGoodRecordsFlowAndCountsAddUp) {
  const std::string frames = UniqueName("frames"), preds = UniqueName("preds");
  CreateTopicOrFail(brokers_, frames, 3);
  CreateTopicOrFail(brokers_, preds, 1);
  CreateTopicOrFail(brokers_, frames + ".DLQ", 1);
  Topic<Image> frames_topic(frames);
  Topic<Prediction> preds_topic(preds);

  constexpr int kGood = 60;
  std::map<std::string, std::string> garbage;  // key -> value
  // Random bytes whose first byte is a tag with wire type 7 (invalid): never a valid Image, and
  // neither a zlib header (0x78) nor Confluent's magic byte (0x00).
  std::mt19937 rng(42);
  for (int i = 0; i < 3; ++i) {
    std::string bytes(32, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    bytes[0] = static_cast<char>((bytes[0] & 0xf8) | 7);
    garbage["random-" + std::to_string(i)] = bytes;
  }
  Image big;
  big.set_image_data(std::string(300, 'x'));
  big.set_frame(99999);
  std::string zlib = Zlib(big.SerializeAsString());
  garbage["truncated-zlib"] = zlib.substr(0, zlib.size() / 2);

  int good = 0;
  auto send_good = [&](int n) {
    for (int i = 0; i < n; ++i, ++good) {
      Image image;
      image.set_frame(good);
      ASSERT_TRUE(producer_->Send(frames_topic, image).ok());
    }
  };
  send_good(20);
  for (const auto& [key, value] : garbage) {
    SendOptions options;
    options.key = key;
    ASSERT_TRUE(producer_->SendEncoded(frames, value, options).ok());
    send_good(10);
  }
  // A Prediction on the Image topic: its envelope's type (the default headers carry no ce_type)
  // says what it is.
  Prediction stray;
  stray.set_frame(-1);
  SendOptions stray_options;
  stray_options.key = "wrong-type";
  ASSERT_TRUE(producer_->Send(Topic<Prediction>(frames), stray, stray_options).ok());
  send_good(kGood - good);
  ASSERT_TRUE(producer_->Flush(30s).ok());
  const size_t kBad = garbage.size() + 1;

  auto metrics = std::make_shared<Metrics>();
  RouterConfig config = Config();
  config.client.metrics = metrics;
  Router router(config);
  ASSERT_TRUE(router.Use(middleware::Metrics(metrics)).ok());
  ASSERT_TRUE(router
                  .Handle("predict", frames_topic,
                          [&](const Image& image, const ReceivedMessage&) {
                            return Predict(image, preds_topic);
                          })
                  .ok());
  const uint64_t total = kGood + kBad;
  ASSERT_TRUE(RunUntil(router, [&] {
                RouterStats s = router.Stats();
                return s.handled + s.dead_lettered >= total;
              }).ok());
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.received, total);
  EXPECT_EQ(stats.handled, static_cast<uint64_t>(kGood));
  EXPECT_EQ(stats.dead_lettered, kBad);
  EXPECT_EQ(stats.skipped, 0u);
  EXPECT_EQ(stats.received, stats.handled + stats.dead_lettered + stats.skipped);
  EXPECT_EQ(stats.published, static_cast<uint64_t>(kGood));
  EXPECT_EQ(metrics->Get(Counter::kDeadLettered), kBad);
  EXPECT_EQ(metrics->Get(Counter::kDecodeFailed), kBad);
  EXPECT_EQ(metrics->Snapshot().handler_count, static_cast<uint64_t>(kGood));

  // One reader for both outputs.
  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(registry.Bind(preds_topic).ok());
  ConsumerConfig cc;
  cc.registry = &registry;
  cc.decode = false;
  auto reader = MakeConsumer(brokers_, {preds, frames + ".DLQ"}, UniqueName("check"), cc);
  auto got = PollUntil(*reader, kGood + kBad, 60s);
  ASSERT_EQ(got.size(), kGood + kBad);
  std::set<int64_t> predicted;
  std::map<std::string, const ReceivedMessage*> dead;  // by key
  for (const auto& m : got) {
    if (m.topic() == preds) {
      Prediction p;
      std::string scratch;
      ASSERT_TRUE(Decode(m.value(), Encoding::kSeed, &p, {}, &scratch).ok());
      EXPECT_TRUE(predicted.insert(p.frame()).second) << "prediction " << p.frame() << " twice";
    } else {
      ASSERT_TRUE(m.key().has_value());
      dead[std::string(*m.key())] = &m;
    }
  }
  EXPECT_EQ(predicted.size(), static_cast<size_t>(kGood));
  ASSERT_EQ(dead.size(), kBad);
  for (const auto& [key, m] : dead) {
    EXPECT_EQ(m->header(header::kDlqReason).value_or(""), "decode") << key;
    EXPECT_EQ(m->header(header::kDlqTopic).value_or(""), frames);
    EXPECT_FALSE(m->header(header::kDlqError).value_or("").empty());
    EXPECT_TRUE(m->header(header::kDlqPartition).has_value());
    EXPECT_TRUE(m->header(header::kDlqOffset).has_value());
    if (key == "wrong-type") {
      // The original headers travel along (the default set: traceparent), and the value, which
      // says what the stray record is, is unchanged.
      EXPECT_TRUE(m->header(header::kTraceparent).has_value());
      EXPECT_FALSE(m->header(header::kType).has_value());
      EXPECT_NE(m->header(header::kDlqError)
                    .value_or("")
                    .find("protobuf.predictions.Prediction (_message_data.type)"),
                std::string_view::npos)
          << m->header(header::kDlqError).value_or("");
    } else {
      EXPECT_EQ(m->value(), garbage.at(key)) << "the original bytes, unchanged";
    }
  }
  // The truncated zlib says why.
  EXPECT_NE(
      dead.at("truncated-zlib")->header(header::kDlqError).value_or("").find("INVALID_ARGUMENT"),
      std::string_view::npos);
}

TEST_F(RouterOnKafka, HandlerFailingTwiceThenSucceedingIsRetriedAndPublishesOnce) {
  const std::string frames = UniqueName("frames"), preds = UniqueName("preds");
  CreateTopicOrFail(brokers_, frames, 1);
  CreateTopicOrFail(brokers_, preds, 1);
  Topic<Image> frames_topic(frames);
  Topic<Prediction> preds_topic(preds);
  for (int i = 0; i < 3; ++i) {
    Image image;
    image.set_frame(i);
    ASSERT_TRUE(producer_->Send(frames_topic, image).ok());
  }
  ASSERT_TRUE(producer_->Flush(30s).ok());

  auto metrics = std::make_shared<Metrics>();
  RouterConfig config = Config();
  config.client.metrics = metrics;
  Router router(config);
  ASSERT_TRUE(router.Use(middleware::Metrics(metrics)).ok());
  ASSERT_TRUE(router.Use(middleware::Retry(3, 10ms, 50ms)).ok());
  std::map<int64_t, int> calls;
  ASSERT_TRUE(router
                  .Handle("flaky", frames_topic,
                          [&](const Image& image, const ReceivedMessage&) -> HandlerResult {
                            if (image.frame() == 1 && ++calls[1] <= 2) {
                              return absl::UnavailableError("model not loaded yet");
                            }
                            return Predict(image, preds_topic);
                          })
                  .ok());
  ASSERT_TRUE(RunUntil(router, [&] { return router.Stats().handled == 3; }).ok());
  RouterStats stats = router.Stats();
  EXPECT_EQ(calls[1], 3);
  EXPECT_EQ(stats.retries, 2u);
  EXPECT_EQ(stats.handler_errors, 0u);
  EXPECT_EQ(stats.dead_lettered, 0u);
  EXPECT_EQ(stats.published, 3u);
  EXPECT_EQ(metrics->Get(Counter::kRetries), 2u);

  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(registry.Bind(preds_topic).ok());
  ConsumerConfig cc;
  cc.registry = &registry;
  auto reader = MakeConsumer(brokers_, {preds}, UniqueName("check"), cc);
  auto got = PollUntil(*reader, 3, 60s);
  auto extra = reader->Poll(1s);
  ASSERT_TRUE(extra.ok());
  EXPECT_TRUE(extra->empty()) << "published more than once";
  ASSERT_EQ(got.size(), 3u);
  std::multiset<int64_t> frames_seen;
  for (const auto& m : got) {
    const Prediction* p = m.As<Prediction>();
    ASSERT_NE(p, nullptr) << "not a Prediction: " << m.decode_status() << " "
                          << (m.message() ? m.message()->GetTypeName() : "nothing decoded");
    frames_seen.insert(p->frame());
  }
  EXPECT_EQ(frames_seen, (std::multiset<int64_t>{0, 1, 2}));
}

TEST_F(RouterOnKafka, FailedDeadLetterPublishStopsTheRouterWithoutCommitting) {
  const std::string frames = UniqueName("frames");
  CreateTopicOrFail(brokers_, frames, 1);
  Image image;
  image.set_frame(1);
  ASSERT_TRUE(producer_->SendSync(Topic<Image>(frames), image).ok());
  SendOptions options;
  options.key = "poison";
  ASSERT_TRUE(producer_->SendEncoded(frames, "\x0f garbage", options).ok());
  ASSERT_TRUE(producer_->Flush(30s).ok());

  RouterConfig config = Config();
  config.dead_letter.topic = "no such topic!";  // an invalid name: the broker refuses the record
  config.dead_letter.delivery_timeout = 20s;
  config.producer_properties["message.timeout.ms"] = "10000";
  const std::string group = config.consumer.group_id;
  Router router(config);
  std::atomic<int> handled{0};
  ASSERT_TRUE(router
                  .AddHandler("count", {frames},
                              [&](ReceivedMessage&) -> HandlerResult {
                                ++handled;
                                return std::vector<Outgoing>{};
                              })
                  .ok());
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = router.Run();  // returns by itself
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("dead-letter"), std::string_view::npos) << status;
  // Run returns by itself once the dead-letter publish failed: the broker refuses the invalid topic
  // at once, or the delivery times out (message.timeout.ms 10 s, within delivery_timeout 20 s);
  // then the consumer closes. 40 s = those 20 s + the close + 10 s of slack: a hang exceeds it.
  EXPECT_LT(took, 40s);
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.dead_lettered, 0u);
  EXPECT_EQ(stats.commits, 0u);

  // Nothing was committed: the group reads both records again.
  auto again = MakeConsumer(brokers_, {frames}, group);
  auto got = PollUntil(*again, 2, 60s);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].offset(), 0);
  EXPECT_EQ(got[1].key().value_or(""), "poison");
}

}  // namespace
}  // namespace messagecorps
