// Bounded decoding on consume (ConsumerConfig::limits): a record over max_record_bytes and a zlib
// bomb over max_decoded_bytes are returned undecoded with reason kDecodeLimit, and the Router
// dead-letters them with reason "decode_limit" (malformed and wrong-type ones keep "decode"),
// bytes unchanged. The other decode outcomes' reasons (kMalformedRecord, kWrongType,
// kNoTypeBound) are checked alongside. On the embedded broker (librdkafka's mock cluster); the
// codec's own limits are in codec_test.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "messagecorps/dead_letter.h"
#include "messagecorps/embedded_broker.h"
#include "messagecorps/error.h"
#include "messagecorps/router.h"
#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::UniqueName;

constexpr size_t kMaxRecord = 500;
constexpr size_t kMaxDecoded = 1000;
constexpr size_t kRecords = 5;  // small, large, bomb, garbage, wrong-type

DecodeLimits SmallLimits() {
  DecodeLimits limits;
  limits.max_record_bytes = kMaxRecord;
  limits.max_decoded_bytes = kMaxDecoded;
  return limits;
}

class DecodeLimitsOnConsume : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = EmbeddedBroker::Start();
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    topic_ = UniqueName("limits");
    ASSERT_TRUE(broker_->CreateTopic(topic_, 1).ok());
    ASSERT_TRUE(broker_->CreateTopic(topic_ + ".DLQ", 1).ok());
    producer_ = MakeProducer(brokers());
    ASSERT_NE(producer_, nullptr);

    // Keyed by what each record is; values written as bytes (no encoding header), so the
    // consumer detects the encoding from content as it does for the original's records.
    Image small;
    small.set_frame(1);
    std::string value;
    ASSERT_TRUE(Encode(small, EncodeOptions{}, &value).ok());
    Send("small", value);

    Image large;
    large.set_image_data(std::string(2 * kMaxRecord, 'x'));
    EncodeOptions raw;
    raw.encoding = Encoding::kRaw;
    ASSERT_TRUE(Encode(large, raw, &value).ok());
    ASSERT_GT(value.size(), kMaxRecord);
    Send("large", value);

    // ~100 bytes that inflate to 100,000: under the record limit, over the decoded one.
    ASSERT_TRUE(EncodeSerialized(std::string(100000, '\0'), EncodeOptions{}, &value).ok());
    ASSERT_LT(value.size(), kMaxRecord);
    Send("bomb", value);

    Send("garbage", std::string("\x0f\x01\x02\x03", 4));

    // A Prediction on the Image topic: its ce_type header says what it is.
    protobuf::predictions::Prediction stray;
    stray.set_frame(5);
    SendOptions options;
    options.key = "wrong-type";
    ASSERT_TRUE(
        producer_->Send(Topic<protobuf::predictions::Prediction>(topic_), stray, options).ok());
    ASSERT_TRUE(producer_->Flush(10s).ok());
  }

  void Send(const std::string& key, const std::string& value) {
    SendOptions options;
    options.key = key;
    ASSERT_TRUE(producer_->SendEncoded(topic_, value, options).ok());
    sent_[key] = value;
  }

  const std::string& brokers() const { return broker_->bootstrap_servers(); }

  std::unique_ptr<EmbeddedBroker> broker_;
  std::unique_ptr<Producer> producer_;
  std::string topic_;
  std::map<std::string, std::string> sent_;
};

TEST_F(DecodeLimitsOnConsume, OversizeRecordsAndBombsAreReportedWithTheirReason) {
  TypeRegistry registry;
  ASSERT_TRUE(registry.Bind(topic_, Image::descriptor()).ok());
  ConsumerConfig config;
  config.registry = &registry;
  config.limits = SmallLimits();
  auto consumer = MakeConsumer(brokers(), {topic_}, UniqueName("g"), config);
  ASSERT_NE(consumer, nullptr);
  auto got = PollUntil(*consumer, kRecords, 30s);
  ASSERT_EQ(got.size(), kRecords);

  std::map<std::string, const ReceivedMessage*> by_key;
  for (const auto& m : got) by_key[std::string(m.key().value_or(""))] = &m;
  ASSERT_EQ(by_key.size(), kRecords);

  EXPECT_TRUE(by_key["small"]->decode_status().ok()) << by_key["small"]->decode_status();
  for (const char* key : {"large", "bomb"}) {
    const absl::Status& s = by_key[key]->decode_status();
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << key << ": " << s;
    EXPECT_EQ(GetErrorReason(s), ErrorReason::kDecodeLimit) << key << ": " << s;
    EXPECT_EQ(by_key[key]->message(), nullptr) << key;
    // Located: topic[partition]@offset.
    EXPECT_NE(s.message().find(absl::StrCat(topic_, "[0]@")), absl::string_view::npos) << s;
    EXPECT_EQ(by_key[key]->value(), sent_[key]) << key;
  }
  EXPECT_NE(by_key["large"]->decode_status().message().find("max_record_bytes"),
            absl::string_view::npos);
  EXPECT_NE(by_key["bomb"]->decode_status().message().find("max_decoded_bytes"),
            absl::string_view::npos);
  const absl::Status& garbage = by_key["garbage"]->decode_status();
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument) << garbage;
  EXPECT_EQ(GetErrorReason(garbage), ErrorReason::kMalformedRecord) << garbage;
  const absl::Status& wrong = by_key["wrong-type"]->decode_status();
  EXPECT_EQ(wrong.code(), absl::StatusCode::kInvalidArgument) << wrong;
  EXPECT_EQ(GetErrorReason(wrong), ErrorReason::kWrongType) << wrong;
}

TEST_F(DecodeLimitsOnConsume, ATopicWithoutATypeIsReportedAsNoTypeBound) {
  TypeRegistry empty;
  ConsumerConfig config;
  config.registry = &empty;
  auto consumer = MakeConsumer(brokers(), {topic_}, UniqueName("g"), config);
  ASSERT_NE(consumer, nullptr);
  auto got = PollUntil(*consumer, kRecords, 30s);
  ASSERT_EQ(got.size(), kRecords);
  for (const auto& m : got) {
    if (m.key() == "wrong-type") {
      // Its ce_type names a type the program knows: decoded as that type.
      EXPECT_TRUE(m.decode_status().ok()) << m.decode_status();
      continue;
    }
    EXPECT_EQ(m.decode_status().code(), absl::StatusCode::kNotFound) << m.decode_status();
    EXPECT_EQ(GetErrorReason(m.decode_status()), ErrorReason::kNoTypeBound);
  }
}

TEST_F(DecodeLimitsOnConsume, RouterDeadLettersThemWithDecodeLimitAsTheReason) {
  RouterConfig config;
  config.client.brokers = brokers();
  config.consumer.group_id = UniqueName("router");
  config.consumer.start = StartOffset::kEarliest;
  config.consumer_properties["session.timeout.ms"] = "6000";
  config.consumer_properties["heartbeat.interval.ms"] = "500";
  config.consumer.limits = SmallLimits();
  config.producer_instance = producer_.get();
  config.poll_timeout = 50ms;
  Router router(config);
  std::atomic<int> handled{0};
  ASSERT_TRUE(router
                  .Handle("count", Topic<Image>(topic_),
                          [&](const Image&, const ReceivedMessage&) -> HandlerResult {
                            ++handled;
                            return std::vector<Outgoing>{};
                          })
                  .ok());
  absl::Status run_status;
  {
    std::jthread thread([&](std::stop_token stop) { run_status = router.Run(stop); });
    // 30 s: a group join on the mock cluster takes a few seconds; more means a hang.
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    while (router.Stats().handled + router.Stats().dead_lettered < kRecords &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    router.Stop();
  }
  ASSERT_TRUE(run_status.ok()) << run_status;
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.received, kRecords);
  EXPECT_EQ(stats.handled, 1u);
  EXPECT_EQ(stats.dead_lettered, kRecords - 1);
  EXPECT_EQ(stats.received, stats.handled + stats.dead_lettered + stats.skipped);
  EXPECT_EQ(handled.load(), 1);

  // The dead letters, read raw: original bytes and key, the reason, the error text.
  ConsumerConfig raw;
  raw.decode = false;
  auto reader = MakeConsumer(brokers(), {topic_ + ".DLQ"}, UniqueName("dlq"), raw);
  ASSERT_NE(reader, nullptr);
  auto dead = PollUntil(*reader, kRecords - 1, 30s);
  ASSERT_EQ(dead.size(), kRecords - 1);
  std::map<std::string, std::string> reasons;
  for (const auto& m : dead) {
    const std::string key(m.key().value_or(""));
    reasons[key] = std::string(m.header(header::kDlqReason).value_or(""));
    if (sent_.count(key)) {
      EXPECT_EQ(m.value(), sent_[key]) << key;
    }
    if (reasons[key] == dead_letter_reason::kDecodeLimit) {
      EXPECT_NE(m.header(header::kDlqError).value_or("").find("RESOURCE_EXHAUSTED"),
                std::string_view::npos)
          << key;
    }
  }
  EXPECT_EQ(reasons, (std::map<std::string, std::string>{{"large", "decode_limit"},
                                                         {"bomb", "decode_limit"},
                                                         {"garbage", "decode"},
                                                         {"wrong-type", "decode"}}));
  EXPECT_EQ(dead_letter_reason::kDecodeLimit, ErrorReasonName(ErrorReason::kDecodeLimit));
}

}  // namespace
}  // namespace messagecorps
