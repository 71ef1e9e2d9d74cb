// A record that says what it is in its value (issue 20): the envelope's `type` (field 11), the
// encoding from the bytes, the headers read only where the value cannot tell. Each wrong-type and
// wrong-encoding combination, with and without headers, through the Consumer's decoding
// (testing::MakeReceivedRecord runs the same code); records of the original (no headers, no type)
// still decode. No broker (tests/integration/self_describing_consume_test.cc is the real path).
#include <google/protobuf/descriptor.pb.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/error.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/testing.h"
#include "messagecorps/type_registry.h"
#include "protobufs/common/Boolean.pb.h"

namespace messagecorps {
namespace {

using protobuf::data::Image;
using protobuf::predictions::Prediction;
using protobufs::common::Boolean;

std::string Encoded(const google::protobuf::Message& m, Encoding e) {
  EncodeOptions options;
  options.encoding = e;
  std::string out;
  EXPECT_TRUE(Encode(m, options, &out).ok());
  return out;
}

template <typename T>
T Stamped(T message) {
  EXPECT_TRUE(Stamp(message, EnvelopeSettings{"test"}).ok());
  return message;
}

// The bindings the original had (VideoStream -> Image, Predictions -> Prediction) and a topic of a
// type without an envelope.
TypeRegistry Registry() {
  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  EXPECT_TRUE(registry.Bind("flags", Boolean::descriptor()).ok());
  return registry;
}

TEST(EnvelopeType, StampWritesTheFullTypeNameAndTheBytesCarryIt) {
  Image image = Stamped(Image());
  EXPECT_EQ(image._message_data().type(), "protobuf.data.Image");
  const std::string raw = image.SerializeAsString();
  EXPECT_EQ(EnvelopeTypeInBytes(raw, 5).value_or("?"), "protobuf.data.Image");
  // Another field number: not the envelope.
  EXPECT_FALSE(EnvelopeTypeInBytes(raw, 3).has_value());
  // The original's records carry no type.
  Image original;
  original.mutable__message_data()->set_uuid("x");
  EXPECT_FALSE(EnvelopeTypeInBytes(original.SerializeAsString(), 5).has_value());
  // Truncated bytes: nothing is claimed (the parser reports them).
  EXPECT_FALSE(EnvelopeTypeInBytes(raw.substr(0, raw.size() - 3), 5).has_value());
  // Two envelope occurrences merge: the last type wins, as protobuf parses it.
  Image other;
  other.mutable__message_data()->set_type("protobuf.predictions.Prediction");
  EXPECT_EQ(EnvelopeTypeInBytes(raw + other.SerializeAsString(), 5).value_or("?"),
            "protobuf.predictions.Prediction");
  // Not a type name: ignored.
  other.mutable__message_data()->set_type("not a type");
  EXPECT_FALSE(EnvelopeTypeInBytes(other.SerializeAsString(), 5).has_value());
}

// What a producer's delivery report reads when the record carried no ce_id header.
TEST(EnvelopeType, TheUuidOfAStampedRecordIsFoundWithoutItsType) {
  const Prediction prediction = Stamped(Prediction());
  EXPECT_EQ(EnvelopeUuidInBytes(prediction.SerializeAsString()).value_or("?"),
            prediction._message_data().uuid());
  const Image image = Stamped(Image());
  EXPECT_EQ(EnvelopeUuidInBytes(image.SerializeAsString()).value_or("?"),
            image._message_data().uuid());
  Image untyped;  // the original's: no type, so nothing says this sub-message is an envelope
  untyped.mutable__message_data()->set_uuid(image._message_data().uuid());
  EXPECT_FALSE(EnvelopeUuidInBytes(untyped.SerializeAsString()).has_value());
  EXPECT_FALSE(EnvelopeUuidInBytes("\x0a\x05hello").has_value());
}

TEST(EnvelopeType, FindEnvelopeTypeNeedsTheTypesOwnEnvelopeFieldNumber) {
  TypeRegistry registry = Registry();
  auto find = [&registry](std::string_view name) { return registry.FindType(name); };
  EXPECT_EQ(FindEnvelopeType(Stamped(Prediction()).SerializeAsString(), find),
            Prediction::descriptor());
  EXPECT_EQ(FindEnvelopeType(Stamped(Image()).SerializeAsString(), find), Image::descriptor());
  // An Image whose envelope names Prediction: Prediction's envelope is field 3, not 5.
  Image liar;
  liar.mutable__message_data()->set_type("protobuf.predictions.Prediction");
  EXPECT_EQ(FindEnvelopeType(liar.SerializeAsString(), find), nullptr);
  EXPECT_EQ(FindEnvelopeType("", find), nullptr);
}

// Bytes alone decide the encoding except where a raw message of the type could begin like zlib.
TEST(EncodingFromBytes, AmbiguousOnlyWhereARawMessageCouldLookLikeZlib) {
  const Image image = Stamped(Image());
  EXPECT_FALSE(EncodingAmbiguous(Encoded(image, Encoding::kRaw), Image::descriptor()));
  EXPECT_FALSE(EncodingAmbiguous(Encoded(image, Encoding::kConfluent), Image::descriptor()));
  // Seed of a type without a varint field 15: no raw message of it starts with tag 0x78.
  EXPECT_FALSE(EncodingAmbiguous(Encoded(image, Encoding::kSeed), Image::descriptor()));
  // Type unknown: a zlib-looking value could be either.
  EXPECT_TRUE(EncodingAmbiguous(Encoded(image, Encoding::kSeed), nullptr));
  EXPECT_FALSE(EncodingAmbiguous(Encoded(image, Encoding::kRaw), nullptr));
}

// The default header set: traceparent; ce_type only for a type without an envelope; the encoding
// header only where the bytes would say another encoding.
TEST(TraceparentHeaders, OneHeaderUnlessTheValueCannotSayTheRest) {
  const Envelope env = MakeEnvelope(EnvelopeSettings{"test"});
  auto collect = [&](std::string_view type, bool in_value, Encoding e, std::string_view value) {
    Headers out;
    ForEachTraceparentHeader(env, type, in_value, e, value, [&](auto k, auto v) {
      out.emplace_back(std::string(k), std::string(v));
    });
    return out;
  };
  const Image image = Stamped(Image());
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    Headers h = collect("protobuf.data.Image", true, e, Encoded(image, e));
    ASSERT_EQ(h.size(), 1u) << EncodingName(e);
    EXPECT_EQ(h[0].first, "traceparent");
    EXPECT_EQ(h[0].second.substr(3, 32), env.trace.trace_id());
  }
  Headers no_envelope = collect("protobufs.common.Boolean", false, Encoding::kRaw, "\x08\x01");
  ASSERT_EQ(no_envelope.size(), 2u);
  EXPECT_EQ(no_envelope[1],
            (std::pair<std::string, std::string>{"ce_type", "protobufs.common.Boolean"}));
  // A raw value starting 0x78 0x01 (field 15 = 1) reads as a zlib header: the encoding is said.
  Headers zlib_like = collect("t.F15", true, Encoding::kRaw, std::string("\x78\x01", 2));
  ASSERT_EQ(zlib_like.size(), 2u);
  EXPECT_EQ(zlib_like[1], (std::pair<std::string, std::string>{"mcorps-encoding", "raw"}));
}

struct Case {
  const char* name;
  std::string topic;
  std::string value;
  Headers headers;
  ErrorReason want_reason;  // kUnspecified: it decodes
  std::string want_in_message = "";
};

void Check(const TypeRegistry& registry, const Case& c) {
  SCOPED_TRACE(c.name);
  const ReceivedMessage r =
      testing::MakeReceivedRecord(c.value, {.topic = c.topic, .headers = c.headers}, &registry);
  if (c.want_reason == ErrorReason::kUnspecified) {
    EXPECT_TRUE(r.decode_status().ok()) << r.decode_status();
    EXPECT_NE(r.message(), nullptr);
    return;
  }
  EXPECT_EQ(GetErrorReason(r.decode_status()), c.want_reason) << r.decode_status();
  EXPECT_EQ(r.message(), nullptr);
  EXPECT_NE(r.decode_status().message().find(c.want_in_message), std::string::npos)
      << r.decode_status();
}

TEST(SelfDescribingDecode, EveryWrongTypeIsRefusedWithItsReasonWithAndWithoutHeaders) {
  const TypeRegistry registry = Registry();
  const Prediction prediction = Stamped(Prediction());
  Prediction original_prediction;  // the original's: no type in its envelope
  original_prediction.mutable__message_data()->set_uuid("u");
  original_prediction.add_object("cat");
  const Headers ce_prediction = {{"ce_type", "protobuf.predictions.Prediction"}};
  Boolean flag;
  flag.set_value(true);
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    SCOPED_TRACE(std::string(EncodingName(e)));
    const std::vector<Case> cases = {
        // Our record, no headers: its envelope names it.
        {"typed, no headers",
         "VideoStream",
         Encoded(prediction, e),
         {},
         ErrorReason::kWrongType,
         "protobuf.predictions.Prediction (_message_data.type)"},
        // Our record with the CloudEvents header too: the Image envelope's place (field 5) names no
        // type, so the header is read before other envelopes are looked for.
        {"typed, ce_type", "VideoStream", Encoded(prediction, e), ce_prediction,
         ErrorReason::kWrongType, "protobuf.predictions.Prediction (ce_type)"},
        // An untyped record with ce_type (a producer of before): the header still refuses it.
        {"untyped, ce_type", "VideoStream", Encoded(original_prediction, e), ce_prediction,
         ErrorReason::kWrongType, "protobuf.predictions.Prediction (ce_type)"},
        // A type without an envelope on an Image topic: named by ce_type (kTraceparent sends it).
        {"no envelope, ce_type",
         "VideoStream",
         Encoded(flag, e),
         {{"ce_type", "protobufs.common.Boolean"}},
         ErrorReason::kWrongType,
         "protobufs.common.Boolean (ce_type)"},
        // An Image on the topic of a type without an envelope, no headers: its envelope names it.
        {"typed into envelope-less topic",
         "flags",
         Encoded(Stamped(Image()), e),
         {},
         ErrorReason::kWrongType,
         "protobuf.data.Image (_message_data.type)"},
        // Right type every way.
        {"right type, no headers",
         "Predictions",
         Encoded(prediction, e),
         {},
         ErrorReason::kUnspecified},
        {"right type, ce_type", "Predictions", Encoded(prediction, e), ce_prediction,
         ErrorReason::kUnspecified},
        {"original's record, no headers",
         "Predictions",
         Encoded(original_prediction, e),
         {},
         ErrorReason::kUnspecified},
        // No binding: the type comes from the value, else ce_type, else it is unknown.
        {"unbound, typed", "elsewhere", Encoded(prediction, e), {}, ErrorReason::kUnspecified},
        {"unbound, ce_type", "elsewhere", Encoded(original_prediction, e), ce_prediction,
         ErrorReason::kUnspecified},
        {"unbound, untyped",
         "elsewhere",
         Encoded(original_prediction, e),
         {},
         ErrorReason::kNoTypeBound,
         "_message_data.type or ce_type"},
    };
    for (const Case& c : cases) Check(registry, c);
  }
}

TEST(SelfDescribingDecode, EncodingComesFromTheBytesWithOrWithoutAHeader) {
  const TypeRegistry registry = Registry();
  Image image = Stamped(Image());
  image.set_frame(12);
  for (Encoding actual : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    for (const char* said : {"", "seed", "raw", "confluent"}) {
      SCOPED_TRACE(std::string(EncodingName(actual)) + " said " + said);
      Headers headers;
      if (*said != '\0') headers.emplace_back("mcorps-encoding", said);
      const ReceivedMessage r = testing::MakeReceivedRecord(
          Encoded(image, actual), {.topic = "VideoStream", .headers = headers}, &registry);
      // The bytes allow one encoding: a header naming another could only make decoding fail, so
      // it is not read.
      ASSERT_TRUE(r.decode_status().ok()) << r.decode_status();
      EXPECT_EQ(r.encoding(), actual);
      EXPECT_EQ(r.As<Image>()->frame(), 12);
    }
  }
  // Bytes that are no encoding at all: a malformed record, whatever the header says.
  for (const char* said : {"", "raw", "seed"}) {
    Headers headers;
    if (*said != '\0') headers.emplace_back("mcorps-encoding", said);
    Check(registry, {"garbage", "VideoStream", std::string("\x78\x01\x02\x03", 4), headers,
                     ErrorReason::kMalformedRecord});
    Check(registry, {"bad confluent", "VideoStream", std::string("\x00\x01", 2), headers,
                     ErrorReason::kMalformedRecord, "confluent"});
  }
}

// A type with a varint field 15: its raw messages can begin like a zlib header (0x78 0x01), so
// the bytes are ambiguous and the mcorps-encoding header decides.
TEST(SelfDescribingDecode, AnAmbiguousValueIsSettledByTheEncodingHeader) {
  google::protobuf::FileDescriptorSet set;
  google::protobuf::FileDescriptorProto* file = set.add_file();
  file->set_name("t/f15.proto");
  file->set_package("t");
  file->set_syntax("proto3");
  google::protobuf::DescriptorProto* type = file->add_message_type();
  type->set_name("F15");
  google::protobuf::FieldDescriptorProto* field = type->add_field();
  field->set_name("n");
  field->set_number(15);
  field->set_type(google::protobuf::FieldDescriptorProto::TYPE_INT64);
  field->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
  TypeRegistry registry;
  ASSERT_TRUE(registry.AddDescriptorSet(set).ok());
  ASSERT_TRUE(registry.Bind("f15", "t.F15").ok());
  const std::string value("\x78\x01", 2);  // F15{n: 1}, raw; also a valid zlib header
  ASSERT_EQ(DetectEncoding(value), Encoding::kSeed);
  ASSERT_TRUE(EncodingAmbiguous(value, registry.FindType("t.F15")));

  const ReceivedMessage said_raw = testing::MakeReceivedRecord(
      value, {.topic = "f15", .headers = {{"mcorps-encoding", "raw"}}}, &registry);
  ASSERT_TRUE(said_raw.decode_status().ok()) << said_raw.decode_status();
  EXPECT_EQ(said_raw.encoding(), Encoding::kRaw);
  const google::protobuf::Message* m = said_raw.message();
  EXPECT_EQ(m->GetReflection()->GetInt64(*m, m->GetDescriptor()->FindFieldByNumber(15)), 1);
  // Without the header the bytes are taken for zlib (the original only wrote seed): malformed.
  Check(registry,
        {"ambiguous, no header", "f15", value, {}, ErrorReason::kMalformedRecord, "zlib"});
}

}  // namespace
}  // namespace messagecorps
