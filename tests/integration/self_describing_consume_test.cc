// Records that say what they are in their value (issue 20), through a real broker: every header
// mode (traceparent, the default; standard; compact; none) with every encoding, the right type and
// a wrong one on a topic bound to Image; records of the original (value only, no type in the
// envelope); the delivery report's uuid without a ce_id header.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/error.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/type_registry.h"
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

TEST(SelfDescribingConsume, EveryHeaderModeAndEncodingDecodesAndRefusesTheWrongType) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic = UniqueName("self-describing");
  CreateTopicOrFail(brokers, topic, 1);

  // Sent in this order: per mode and encoding, an Image (frame = index) and a Prediction.
  struct Sent {
    HeaderMode mode;
    Encoding encoding;
  };
  std::vector<Sent> sent;
  for (HeaderMode mode :
       {HeaderMode::kTraceparent, HeaderMode::kStandard, HeaderMode::kCompact, HeaderMode::kNone}) {
    ProducerConfig config;
    config.headers = mode;
    auto producer = MakeProducer(brokers, config);
    for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
      TopicOptions options;
      options.encoding = e;
      Image image;
      image.set_frame(static_cast<int64_t>(sent.size()));
      ASSERT_TRUE(producer->SendSync(Topic<Image>(topic, options), image).ok());
      Prediction prediction;
      prediction.add_object("cat");
      ASSERT_TRUE(producer->SendSync(Topic<Prediction>(topic, options), prediction).ok());
      sent.push_back({mode, e});
    }
  }
  // The original's records: the value alone, no type in the envelope.
  auto bare = MakeProducer(brokers);
  Image original;
  original.set_frame(1000);
  original.mutable__message_data()->set_uuid("6f1d3c1e-9c1b-11e8-a1f2-0242ac120002");
  std::string seed;
  ASSERT_TRUE(Encode(original, {}, &seed).ok());
  ASSERT_TRUE(bare->SendEncoded(topic, seed).ok());
  ASSERT_TRUE(bare->Flush(10s).ok());

  TypeRegistry registry;
  ASSERT_TRUE(registry.Bind(topic, Image::descriptor()).ok());
  ConsumerConfig bound;
  bound.registry = &registry;
  auto consumer = MakeConsumer(brokers, {topic}, UniqueName("group"), bound);
  const size_t want = sent.size() * 2 + 1;
  std::vector<ReceivedMessage> got = PollUntil(*consumer, want, 60s);
  ASSERT_EQ(got.size(), want);
  for (size_t i = 0; i < sent.size(); ++i) {
    SCOPED_TRACE(std::string(HeaderModeName(sent[i].mode)) + " " +
                 std::string(EncodingName(sent[i].encoding)));
    const ReceivedMessage& image = got[2 * i];
    ASSERT_TRUE(image.decode_status().ok()) << image.decode_status();
    EXPECT_EQ(image.encoding(), sent[i].encoding);
    EXPECT_EQ(image.As<Image>()->frame(), static_cast<int64_t>(i));
    EXPECT_EQ(image.As<Image>()->_message_data().type(), "protobuf.data.Image");
    EXPECT_EQ(image.trace().trace_id(), image.As<Image>()->_message_data().trace_id());
    const Headers headers = image.headers();
    switch (sent[i].mode) {
      case HeaderMode::kTraceparent:
        ASSERT_EQ(headers.size(), 1u);
        EXPECT_EQ(headers[0].first, "traceparent");
        EXPECT_EQ(headers[0].second.substr(3, 32), image.trace().trace_id());
        break;
      case HeaderMode::kStandard:
        EXPECT_EQ(headers.size(), 8u);
        EXPECT_EQ(image.header(header::kType).value_or(""), "protobuf.data.Image");
        break;
      case HeaderMode::kCompact:
        EXPECT_EQ(headers.size(), 3u);
        break;
      case HeaderMode::kNone:
        EXPECT_TRUE(headers.empty());
        break;
    }
    // The Prediction is refused whatever headers it had: its envelope, or ce_type, names it.
    const ReceivedMessage& prediction = got[2 * i + 1];
    EXPECT_EQ(GetErrorReason(prediction.decode_status()), ErrorReason::kWrongType)
        << prediction.decode_status();
    EXPECT_NE(prediction.decode_status().message().find("protobuf.predictions.Prediction"),
              std::string::npos)
        << prediction.decode_status();
    EXPECT_EQ(prediction.message(), nullptr);
  }
  const ReceivedMessage& last = got.back();
  ASSERT_TRUE(last.decode_status().ok()) << last.decode_status();
  EXPECT_EQ(last.encoding(), Encoding::kSeed);
  EXPECT_EQ(last.As<Image>()->frame(), 1000);
  EXPECT_TRUE(last.headers().empty());

  // A consumer without bindings finds the type in the value (traceparent mode: no ce_type).
  TypeRegistry empty;
  ConsumerConfig unbound;
  unbound.registry = &empty;
  auto any = MakeConsumer(brokers, {topic}, UniqueName("group"), unbound);
  std::vector<ReceivedMessage> again = PollUntil(*any, want, 60s);
  ASSERT_EQ(again.size(), want);
  ASSERT_TRUE(again[1].decode_status().ok()) << again[1].decode_status();
  EXPECT_NE(again[1].As<Prediction>(), nullptr) << "typed by _message_data.type";
  EXPECT_EQ(GetErrorReason(again.back().decode_status()), ErrorReason::kNoTypeBound)
      << "the original's record names no type";
}

// The producer-wide delivery callback still gets the envelope uuid, which the default header set no
// longer carries in ce_id.
TEST(SelfDescribingConsume, DeliveryReportsCarryTheUuidWithoutCeId) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic = UniqueName("self-describing-uuid");
  CreateTopicOrFail(brokers, topic, 1);
  std::mutex mu;
  std::vector<std::string> uuids;
  ProducerConfig config;
  config.on_delivery = [&](const DeliveryReport& r) {
    std::lock_guard lock(mu);
    uuids.push_back(r.uuid);
  };
  auto producer = MakeProducer(brokers, config);
  std::vector<std::string> want;
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    TopicOptions options;
    options.encoding = e;
    Image image;
    ASSERT_TRUE(producer->Send(Topic<Image>(topic, options), image).ok());
    want.push_back(image._message_data().uuid());
  }
  ASSERT_TRUE(producer->Flush(30s).ok());
  std::lock_guard lock(mu);
  EXPECT_EQ(uuids, want);
}

}  // namespace
}  // namespace messagecorps
