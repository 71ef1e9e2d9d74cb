// ReceivedMessage made in memory (messagecorps/testing.h): what a handler sees for a record that
// decodes, for one that does not (each reason), and ownership (moves, release_message). No broker.
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "messagecorps/codec.h"
#include "messagecorps/error.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/testing.h"
#include "messagecorps/type_registry.h"

namespace messagecorps {
namespace {

using protobuf::data::Image;
using protobuf::predictions::Prediction;

TEST(MakeReceivedMessage, LooksLikeARecordAProducerSentAndAConsumerDecoded) {
  Image image;
  image.set_frame(7);
  image.set_width(640);
  const ReceivedMessage record =
      testing::MakeReceivedMessage(image, {.topic = "VideoStream",
                                           .partition = 3,
                                           .offset = 42,
                                           .key = "cam0",
                                           .headers = {{"x-extra", "1"}},
                                           .timestamp_ms = 1700000000000});
  ASSERT_TRUE(record.decode_status().ok()) << record.decode_status();
  EXPECT_EQ(record.topic(), "VideoStream");
  EXPECT_EQ(record.partition(), 3);
  EXPECT_EQ(record.offset(), 42);
  EXPECT_EQ(record.key().value_or(""), "cam0");
  EXPECT_EQ(record.timestamp_ms(), 1700000000000);
  EXPECT_EQ(record.encoding(), Encoding::kSeed);
  // The standard headers a producer adds, then the given ones.
  EXPECT_EQ(record.header("ce_type").value_or(""), "protobuf.data.Image");
  EXPECT_EQ(record.header("mcorps-encoding").value_or(""), "seed");
  EXPECT_EQ(record.header("x-extra").value_or(""), "1");
  EXPECT_EQ(record.headers().back(), (std::pair<std::string, std::string>{"x-extra", "1"}));
  // The value is the seed encoding of the stamped message.
  Image decoded;
  std::string scratch;
  ASSERT_TRUE(Decode(record.value(), Encoding::kSeed, &decoded, {}, &scratch).ok());
  EXPECT_EQ(decoded.frame(), 7);

  const Image* in = record.As<Image>();
  ASSERT_NE(in, nullptr);
  EXPECT_EQ(record.As<Prediction>(), nullptr);
  EXPECT_EQ(in->frame(), 7);
  EXPECT_EQ(in->width(), 640);
  // Stamped by the "sender", coordinates filled by the "consumer".
  EXPECT_EQ(in->_message_data().sending_service(), "test");
  EXPECT_EQ(in->_message_data().uuid().size(), 36u);
  EXPECT_EQ(in->_message_data().offset(), 42);
  EXPECT_EQ(in->_message_data().partition(), 3);
  EXPECT_EQ(record.trace().trace_id(), in->_message_data().trace_id());
  EXPECT_EQ(record.trace().trace_id().size(), 32u);
  EXPECT_EQ(record.header("traceparent").value_or("").substr(3, 32), record.trace().trace_id());
}

TEST(MakeReceivedMessage, KeepsTheMessagesTraceAndTheChosenEncoding) {
  Prediction prediction;
  prediction.mutable__message_data()->set_trace_id("0123456789abcdef0123456789abcdef");
  prediction.add_object("person");
  EncodeOptions raw;
  raw.encoding = Encoding::kRaw;
  const ReceivedMessage record = testing::MakeReceivedMessage(
      prediction, {.topic = "anything"}, raw, {"predict", protobuf::common::PRODUCTION});
  ASSERT_TRUE(record.decode_status().ok()) << record.decode_status();
  EXPECT_EQ(record.encoding(), Encoding::kRaw);
  EXPECT_EQ(record.trace().trace_id(), "0123456789abcdef0123456789abcdef");
  ASSERT_NE(record.As<Prediction>(), nullptr);
  EXPECT_EQ(record.As<Prediction>()->object(0), "person");
  EXPECT_EQ(record.As<Prediction>()->_message_data().sending_service(), "predict");
  EXPECT_EQ(record.As<Prediction>()->_message_data().environment(), protobuf::common::PRODUCTION);
}

TEST(MakeReceivedMessage, AMessageThatCannotBeSentGivesTheSendersError) {
  Image image;
  image.mutable__message_data()->set_trace_id("not-hex");
  const ReceivedMessage record = testing::MakeReceivedMessage(image);
  EXPECT_EQ(record.decode_status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(record.message(), nullptr);
}

TEST(MakeReceivedRecord, MalformedValuesAreDecodeErrorsWithTheirReason) {
  // Garbage on a seed topic: it looks like nothing that parses.
  const ReceivedMessage garbage =
      testing::MakeReceivedRecord(std::string("\x0f\x01\x02\x03", 4), {.topic = "VideoStream"});
  EXPECT_EQ(garbage.decode_status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(garbage.decode_status()), ErrorReason::kMalformedRecord);
  EXPECT_EQ(garbage.message(), nullptr);
  EXPECT_EQ(garbage.value(), std::string_view("\x0f\x01\x02\x03", 4)) << "kept as received";
  // Where it was is in the message.
  EXPECT_NE(garbage.decode_status().message().find("VideoStream[0]@0"), absl::string_view::npos);

  // A type the topic does not carry.
  Prediction prediction;
  std::string value;
  ASSERT_TRUE(Encode(prediction, {}, &value).ok());
  const ReceivedMessage wrong = testing::MakeReceivedRecord(
      value, {.topic = "VideoStream", .headers = {{"ce_type", "protobuf.predictions.Prediction"}}});
  EXPECT_EQ(GetErrorReason(wrong.decode_status()), ErrorReason::kWrongType);

  // No type bound to the topic, none named.
  const ReceivedMessage unbound = testing::MakeReceivedRecord(value, {.topic = "elsewhere"});
  EXPECT_EQ(unbound.decode_status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetErrorReason(unbound.decode_status()), ErrorReason::kNoTypeBound);

  // Over the decode limit (a zlib bomb, in small): the reason survives the context added.
  Image big;
  big.set_image_data(std::string(100000, 'x'));
  ASSERT_TRUE(Encode(big, {}, &value).ok());
  const ReceivedMessage bomb = testing::MakeReceivedRecord(value, {.topic = "VideoStream"}, nullptr,
                                                           {.max_decoded_bytes = 1000});
  EXPECT_EQ(bomb.decode_status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(GetErrorReason(bomb.decode_status()), ErrorReason::kDecodeLimit);
}

TEST(MakeReceivedRecord, DecodesWithTheGivenRegistryAndTakesTheTraceFromHeaders) {
  TypeRegistry registry;
  ASSERT_TRUE(registry.Bind("frames", Image::descriptor()).ok());
  Image image;
  image.set_frame(9);
  std::string value;
  EncodeOptions raw;
  raw.encoding = Encoding::kRaw;
  ASSERT_TRUE(Encode(image, raw, &value).ok());
  const ReceivedMessage record = testing::MakeReceivedRecord(
      value,
      {.topic = "frames",
       .headers = {{"mcorps-encoding", "raw"},
                   {"traceparent", "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"}}},
      &registry);
  ASSERT_TRUE(record.decode_status().ok()) << record.decode_status();
  EXPECT_EQ(record.As<Image>()->frame(), 9);
  // The message has no trace of its own: the traceparent header's.
  EXPECT_EQ(record.trace().trace_id(), "0123456789abcdef0123456789abcdef");
}

TEST(ReceivedMessage, MovesAndReleasesLikeOneOwner) {
  Image image;
  image.set_frame(1);
  std::vector<ReceivedMessage> batch;
  for (int i = 0; i < 40; ++i) {  // the vector grows: records move
    image.set_frame(i);
    batch.push_back(testing::MakeReceivedMessage(image, {.offset = i}));
  }
  for (int i = 0; i < 40; ++i) {
    EXPECT_EQ(batch[i].offset(), i);
    EXPECT_EQ(batch[i].As<Image>()->frame(), i);
  }
  batch[0] = std::move(batch[39]);
  batch.pop_back();
  EXPECT_EQ(batch[0].offset(), 39);
  std::unique_ptr<google::protobuf::Message> taken = batch[0].release_message();
  ASSERT_NE(taken, nullptr);
  EXPECT_EQ(batch[0].message(), nullptr);
  EXPECT_EQ(dynamic_cast<Image&>(*taken).frame(), 39);
}

}  // namespace
}  // namespace messagecorps
