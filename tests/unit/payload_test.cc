// Client payloads -> typed messages (payload.h): every accepted form round-trips, and every kind
// of malformed or wrong-typed input is refused with the path of the field it is about.
#include "messagecorps/payload.h"

#include <gmock/gmock.h>
#include <google/protobuf/any.pb.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "messagecorps/codec.h"
#include "messagecorps/error.h"
#include "messagecorps/type_registry.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

#ifndef MCORPS_ACME_DESCRIPTOR_SET
#error "tests/unit/CMakeLists.txt defines MCORPS_ACME_DESCRIPTOR_SET (path of acme.desc)"
#endif

namespace messagecorps {
namespace {

namespace pb = google::protobuf;
using protobuf::data::Image;
using protobuf::predictions::Prediction;
using ::testing::HasSubstr;
using ::testing::StartsWith;

Image SampleImage() {
  Image image;
  image.set_image_data(std::string("\x00\xff\x10 jpeg", 9));
  image.set_height(480);
  image.set_width(640);
  image.set_frame(7);
  image.set_source("cam0");
  image.mutable__message_data()->set_trace_id("5f0c6a1e8b3d11eea0e3f3b2c1d4e5f6");
  return image;
}

bool Same(const pb::Message& a, const pb::Message& b) {
  return pb::util::MessageDifferencer::Equals(a, b);
}

// Appends a varint.
void Varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>(v | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}
void Tag(std::string& out, int number, int wire_type) {
  Varint(out, (static_cast<uint64_t>(number) << 3) | wire_type);
}
void LengthDelimited(std::string& out, int number, std::string_view body) {
  Tag(out, number, 2);
  Varint(out, body.size());
  out.append(body);
}

void ExpectFieldError(const absl::Status& s, std::string_view path, std::string_view text) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(FieldPathOf(s), path) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(std::string(text))) << s;
  if (!path.empty()) {
    EXPECT_THAT(std::string(s.message()), StartsWith(std::string(path) + ": "));
  }
}

TEST(ParseSerialized, AcceptsTheTypeAndRoundTrips) {
  const Image image = SampleImage();
  Image out;
  ASSERT_TRUE(ParseSerialized(image.SerializeAsString(), &out).ok());
  EXPECT_TRUE(Same(image, out));
  // The empty message is valid.
  EXPECT_TRUE(ParseSerialized("", &out).ok());
}

TEST(ParseSerialized, WrongTypeNamesTheField) {
  // A Prediction (1: repeated string, 2: int64, 3: messageData) is not an Image
  // (1: bytes, 2: int32, 3: int32 width): field 3 has the wrong wire type.
  Prediction p;
  p.add_object("person");
  p.set_frame(3);
  p.mutable__message_data()->set_uuid("u");
  Image out;
  const absl::Status s = ParseSerialized(p.SerializeAsString(), &out);
  ExpectFieldError(s, "width", "wire type 2 (length-delimited) where int32 field 3");
  EXPECT_EQ(GetErrorReason(s), ErrorReason::kWrongType);
  Prediction back;
  // An Image as a Prediction: image_data (1, bytes) reads as object (1, string), whose proto3
  // UTF-8 rule the JPEG bytes break.
  ExpectFieldError(ParseSerialized(SampleImage().SerializeAsString(), &back), "object[0]",
                   "not valid UTF-8");
}

TEST(ParseSerialized, UnknownFieldNumberIsRefused) {
  std::string bytes = SampleImage().SerializeAsString();
  Tag(bytes, 99, 0);
  Varint(bytes, 1);
  Image out;
  const absl::Status s = ParseSerialized(bytes, &out);
  ExpectFieldError(s, "", "field number 99 (varint) is not a field of protobuf.data.Image");
}

TEST(ParseSerialized, NestedErrorsCarryTheFullPath) {
  // _message_data (5) { trace_id (8): invalid UTF-8 }
  std::string envelope;
  LengthDelimited(envelope, 8, "\xc3\x28");
  std::string bytes;
  LengthDelimited(bytes, 5, envelope);
  Image out;
  ExpectFieldError(ParseSerialized(bytes, &out), "_message_data.trace_id", "not valid UTF-8");

  // detections[1].box (3) with a truncated float x (fixed32).
  std::string box;
  Tag(box, 1, 5);
  box.append("\x01\x02", 2);
  std::string good_detection, bad_detection;
  LengthDelimited(good_detection, 1, "cat");
  LengthDelimited(bad_detection, 3, box);
  std::string prediction;
  LengthDelimited(prediction, 4, good_detection);
  LengthDelimited(prediction, 4, bad_detection);
  Prediction p;
  ExpectFieldError(ParseSerialized(prediction, &p), "detections[1].box.x",
                   "truncated 32-bit value");
}

TEST(ParseSerialized, TruncationAndOverrunAreRefused) {
  const std::string bytes = SampleImage().SerializeAsString();
  Image out;
  // Cut inside image_data's bytes: its length runs past the end.
  ExpectFieldError(ParseSerialized(bytes.substr(0, 5), &out), "image_data", "runs past the end");
  // A lone continuation byte: truncated tag.
  ExpectFieldError(ParseSerialized("\x80", &out), "", "truncated or overlong field tag");
  // Truncated varint value of height.
  std::string v;
  Tag(v, 2, 0);
  v.push_back('\x80');
  ExpectFieldError(ParseSerialized(v, &out), "height", "truncated or overlong varint");
  // Field number 0 and wire types 6/7 do not exist.
  ExpectFieldError(ParseSerialized(std::string("\x00\x01", 2), &out), "", "invalid field number 0");
  ExpectFieldError(ParseSerialized("\x0e", &out), "", "invalid wire type 6");
}

TEST(ParseSerialized, DepthAndSizeLimits) {
  // acme.SensorBatch { readings { calibration {...} } } is only 3 deep; build depth with a
  // self-nesting check via the limit instead.
  PayloadLimits limits;
  limits.max_depth = 1;
  std::string envelope;
  LengthDelimited(envelope, 3, "svc");
  std::string bytes;
  LengthDelimited(bytes, 5, envelope);
  Image out;
  EXPECT_TRUE(ParseSerialized(bytes, &out, limits).ok());
  limits.max_depth = 0;
  ExpectFieldError(ParseSerialized(bytes, &out, limits), "_message_data", "nested deeper than 0");

  limits = {};
  limits.max_bytes = 10;
  const absl::Status s = ParseSerialized(SampleImage().SerializeAsString(), &out, limits);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
}

TEST(ParseSerialized, PackedAndMapFieldsOfADynamicType) {
  pb::FileDescriptorSet set;
  std::ifstream in(MCORPS_ACME_DESCRIPTOR_SET, std::ios::binary);
  ASSERT_TRUE(set.ParseFromIstream(&in));
  TypeRegistry registry;
  ASSERT_TRUE(registry.AddDescriptorSet(set).ok());
  const pb::Descriptor* type = registry.FindType("acme.SensorReading");
  ASSERT_NE(type, nullptr);
  std::unique_ptr<pb::Message> reading = registry.NewMessage(type);
  ASSERT_TRUE(ParseJsonPayload(R"({"sensor_id": "s1", "samples": [1, 2, 300],
                                   "labels": {"room": "a"}, "unit": "PASCAL"})",
                               reading.get())
                  .ok());
  std::unique_ptr<pb::Message> back = registry.NewMessage(type);
  ASSERT_TRUE(ParseSerialized(reading->SerializeAsString(), back.get()).ok());
  EXPECT_TRUE(Same(*reading, *back));

  // Packed samples (4) with a truncated varint inside.
  std::string bad;
  LengthDelimited(bad, 4, "\x01\x80");
  ExpectFieldError(ParseSerialized(bad, back.get()), "samples[0]", "truncated varint in packed");
  // A map entry whose value (2) is not valid UTF-8.
  std::string entry, map_bytes;
  LengthDelimited(entry, 1, "k");
  LengthDelimited(entry, 2, "\xff");
  LengthDelimited(map_bytes, 5, entry);
  ExpectFieldError(ParseSerialized(map_bytes, back.get()), "labels[0].value", "not valid UTF-8");
}

TEST(ParseJsonPayload, MappingWithProtoAndCamelNames) {
  Image out;
  ASSERT_TRUE(ParseJsonPayload(R"({"frame": "7", "height": 480, "_message_data": {"trace_id":
                                   "5f0c6a1e8b3d11eea0e3f3b2c1d4e5f6"}})",
                               &out)
                  .ok());
  EXPECT_EQ(out.frame(), 7);
  EXPECT_EQ(out._message_data().trace_id(), "5f0c6a1e8b3d11eea0e3f3b2c1d4e5f6");
  Prediction p;
  ASSERT_TRUE(ParseJsonPayload(R"({"modelName": "hog", "object": ["a", "b"]})", &p).ok());
  EXPECT_EQ(p.model_name(), "hog");
  EXPECT_EQ(p.object_size(), 2);
}

TEST(ParseJsonPayload, ErrorsNameTheField) {
  Image out;
  ExpectFieldError(ParseJsonPayload(R"({"frame": "abc"})", &out), "frame", "invalid value");
  ExpectFieldError(ParseJsonPayload(R"({"_message_data": {"environment": "NOPE"}})", &out),
                   "_message_data.environment", "invalid value \"NOPE\"");
  ExpectFieldError(ParseJsonPayload(R"({"_message_data": {"nope": 1}})", &out),
                   "_message_data.nope", "no such field");
  ExpectFieldError(ParseJsonPayload(R"({"nope": 1})", &out), "nope", "no such field");
  // A key that looks like protobuf's own "(path)" prefix or an extension name (payload_fuzz found
  // `{"(po.)": "01"}` reported as field "po" without "no such field").
  ExpectFieldError(ParseJsonPayload(R"j({"(po.)": "01"})j", &out), "(po.)", "no such field");
  ExpectFieldError(ParseJsonPayload(R"j({"_message_data": {"(x)": 1}})j", &out),
                   "_message_data.(x)", "no such field");
  // "(nope) x" at the top is a key, not a path: no field is named nope.
  ExpectFieldError(ParseJsonPayload(R"j({"(nope) x": 1})j", &out), "(nope) x", "no such field");
  ExpectFieldError(ParseJsonPayload(R"({"height": 3000000000})", &out), "height", "invalid value");
  EXPECT_TRUE(out.SerializeAsString().empty()) << "a failed parse leaves nothing behind";
}

TEST(ParseJsonPayload, SyntaxIsStrict) {
  Image out;
  // protobuf alone accepts the trailing comma; the payload parser does not.
  ExpectFieldError(ParseJsonPayload(R"({"frame": 1,})", &out), "", "JSON parse error");
  ExpectFieldError(ParseJsonPayload(R"({"frame": )", &out), "", "JSON parse error");
  ExpectFieldError(ParseJsonPayload("", &out), "", "JSON parse error");
  ExpectFieldError(ParseJsonPayload("[1, 2]", &out), "", "expected a JSON object");
  ExpectFieldError(ParseJsonPayload("\"text\"", &out), "", "got string");
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += R"({"a":)";
  deep += "1";
  for (int i = 0; i < 100; ++i) deep += "}";
  ExpectFieldError(ParseJsonPayload(deep, &out), "", "nested deeper than 64");
}

TEST(ParseJsonPayload, OriginalRestHexForm) {
  const Image image = SampleImage();
  const std::string rest = ToSeedRestJson(image.SerializeAsString());
  EXPECT_TRUE(IsSeedRestJson(rest, Image::descriptor()));
  Image out;
  ASSERT_TRUE(ParseJsonPayload(rest, &out).ok());
  EXPECT_TRUE(Same(image, out));
  // Upper-case hex is accepted.
  std::string upper = rest;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  upper.replace(upper.find("PROTOBUF"), 8, "protobuf");
  ASSERT_TRUE(ParseJsonPayload(upper, &out).ok());
  EXPECT_TRUE(Same(image, out));
  // Bad hex and a hex payload of the wrong type.
  ExpectFieldError(ParseJsonPayload(R"({"protobuf": "0g"})", &out), "", "invalid hex digit");
  ExpectFieldError(ParseJsonPayload(R"({"protobuf": "abc"})", &out), "", "odd number");
  Prediction p;
  p.add_object("x");
  p.mutable__message_data()->set_uuid("u");
  ExpectFieldError(ParseJsonPayload(ToSeedRestJson(p.SerializeAsString()), &out), "width",
                   "a message of another type?");
  // Two members: not the hex form (and "protobuf" is not an Image field).
  EXPECT_FALSE(IsSeedRestJson(R"({"protobuf": "00", "frame": 1})", Image::descriptor()));
  ExpectFieldError(ParseJsonPayload(R"({"protobuf": "00", "frame": 1})", &out), "protobuf",
                   "no such field");
}

TEST(ParseEncodedPayload, EveryEncodingAndDetection) {
  const Image image = SampleImage();
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    EncodeOptions options;
    options.encoding = e;
    options.schema_id = 42;
    std::string value, scratch;
    ASSERT_TRUE(Encode(image, options, &value).ok());
    Image out;
    ASSERT_TRUE(ParseEncodedPayload(value, e, &out, &scratch).ok()) << EncodingName(e);
    EXPECT_TRUE(Same(image, out)) << EncodingName(e);
    ASSERT_TRUE(ParseEncodedPayload(value, std::nullopt, &out, &scratch).ok()) << EncodingName(e);
    EXPECT_TRUE(Same(image, out)) << EncodingName(e);
  }
}

TEST(ParseEncodedPayload, MalformedEncodingsAndBombs) {
  std::string scratch;
  Image out;
  // A zlib header with garbage after it.
  const absl::Status corrupt =
      ParseEncodedPayload(std::string("\x78\x9c\x01\x02\x03", 5), Encoding::kSeed, &out, &scratch);
  EXPECT_EQ(corrupt.code(), absl::StatusCode::kInvalidArgument) << corrupt;
  EXPECT_THAT(std::string(corrupt.message()), StartsWith("seed payload: "));
  // Confluent with a bad magic byte.
  EXPECT_EQ(ParseEncodedPayload("\x01zzzzzz", Encoding::kConfluent, &out, &scratch).code(),
            absl::StatusCode::kInvalidArgument);
  // A seed payload inflating past the limit: kResourceExhausted.
  EncodeOptions seed;
  std::string bomb;
  ASSERT_TRUE(EncodeSerialized(std::string(1 << 20, '\0'), seed, &bomb).ok());
  PayloadLimits limits;
  limits.max_bytes = 64 << 10;
  EXPECT_EQ(ParseEncodedPayload(bomb, Encoding::kSeed, &out, &scratch, limits).code(),
            absl::StatusCode::kResourceExhausted);
  // Raw bytes of another type: the field error comes through.
  Prediction p;
  p.set_frame_width(5);
  ExpectFieldError(ParseEncodedPayload(p.SerializeAsString(), Encoding::kRaw, &out, &scratch), "",
                   "field number 11 (varint) is not a field of protobuf.data.Image");
}

TEST(ParseAnyPayload, TypeUrlMustNameTheBoundType) {
  const Image image = SampleImage();
  pb::Any any;
  any.PackFrom(image);
  Image out;
  ASSERT_TRUE(ParseAnyPayload(any.type_url(), any.value(), &out).ok());
  EXPECT_TRUE(Same(image, out));
  ASSERT_TRUE(ParseAnyPayload("protobuf.data.Image", any.value(), &out).ok());

  Prediction p;
  any.PackFrom(p);
  const absl::Status s = ParseAnyPayload(any.type_url(), any.value(), &out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(s), ErrorReason::kWrongType);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("message is a protobuf.predictions.Prediction, the topic carries "
                        "protobuf.data.Image"));
  EXPECT_THAT(std::string(ParseAnyPayload("", "", &out).message()), HasSubstr("<no type URL>"));
}

TEST(FieldPath, AttachesOnlyToErrors) {
  EXPECT_EQ(FieldPathOf(WithFieldPath(absl::OkStatus(), "a")), "");
  EXPECT_EQ(FieldPathOf(WithFieldPath(absl::InvalidArgumentError("x"), "a.b")), "a.b");
  EXPECT_EQ(FieldPathOf(absl::InvalidArgumentError("x")), "");
}

}  // namespace
}  // namespace messagecorps
