// Encodings of record values: seed (zlib, byte-identical to the original's Python), raw, Confluent
// framing; detection by content; every malformed-input class with its defined status code.
#include "messagecorps/codec.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

// Counts heap allocations made by the calling thread, to check that the hot paths reuse buffers.
namespace {
thread_local long g_allocations = 0;
}  // namespace

// Not inlined: GCC would otherwise pair the malloc and free across inlined calls and warn
// (-Wmismatched-new-delete), although replacing both sides together is correct.
[[gnu::noinline]] void* operator new(std::size_t size) {
  ++g_allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace messagecorps {
namespace {

using google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<unsigned char>(c) >> 4]);
    out.push_back(kDigits[static_cast<unsigned char>(c) & 0xF]);
  }
  return out;
}

std::string Unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Golden vectors. SERIALIZED bytes were encoded by hand in Python:
//   def varint(n): ...7-bit groups, low first...;  key = lambda f, wt: varint(f << 3 | wt)
//   ld = lambda f, b: key(f, 2) + varint(len(b)) + b;  vi = lambda f, n: key(f, 0) + varint(n)
//   e.g. small = ld(1, b'\x01\x02\x03') + vi(2, 480) + vi(3, 640) + vi(4, 7)
// and the SEED bytes are CPython 3.11.7's zlib (zlib 1.2.13) output:
//   python3 -c 'import zlib; print(zlib.compress(bytes.fromhex(SERIALIZED)).hex())'
//   (zlib.compress(data, 9) / zlib.compress(data, 1) for the level variants).
// The tests also check that our C++ messages serialize to SERIALIZED, which pins the whole chain
// "message -> record value" to what the original Python sender produced.

// Image{image_data=01 02 03, height=480, width=640, frame=7}
constexpr std::string_view kSmallSerialized = "0a0301020310e0031880052007";
constexpr std::string_view kSmallSeed = "789ce3626664621678c02cd1c0aac00e000a6d01cb";

// Image{image_data=[(i*7)%13 for i in range(300)], height=10, width=10, frame=42, _message_data{
//   environment=DEVELOPMENT, sending_service="camera", uuid="6ba7b810-9dad-11d1-80b4-00c04fd430c8",
//   iso_date="2018-07-30T08:26:31.123456+00:00", trace_id="0af7651916cd43dd8448eb211c80319c"}}
constexpr std::string_view kBigSeed =
    "789cedcbbd0dc2301006500810c050a4445416a20a32facebe38e794ccc002fe493a1ac4580c09133001e52b9e7a57"
    "b"
    "3f57c536d176ab95bedeb3f7ea25107a5dbf6d554c73ac7c7f88ca7b34fb14f4230a1c462880a1941620364f054d82"
    "1"
    "4bab2d480c7ae370870cd60f8eae641d77fe020cc04d234ebdef2890cfdf548a30cb982c5116380af90393a42496";
constexpr std::string_view kBigSeedLevel9 =
    "78daedcbbd0dc2301006500810c050a4445416a20a32facebe38e794ccc002fe493a1ac4580c09133001e52b9e7a57"
    "b"
    "3f57c536d176ab95bedeb3f7ea25107a5dbf6d554c73ac7c7f88ca7b34fb14f4230a1c462880a1941620364f054d82"
    "1"
    "4bab2d480c7ae370870cd60f8eae641d77fe020cc04d234ebdef2890cfdf548a30cb982c5116380af90393a42496";
constexpr std::string_view kBigSeedLevel1 =
    "7801edd0bb0dc2301446610810c050a4445416a20a32faaf7de35ca7640616f023e968106331244cc00494a7f89aa3"
    "d"
    "ed56c3ddf54db855aee56fbfa1f3f1f34eaa074dbbe9aea58e7f8189ff174f629f649082694580c512123486c800c9"
    "e"
    "0a3b6469b50589416f1cee90c1fac1d195ace3ce5f8001b869c4a9f71d05f2f98b4a1166199325ca0247217f0093a4"
    "2"
    "496";

// Prediction{object=["person", "dog"], frame=42}
constexpr std::string_view kPredictionSerialized = "0a06706572736f6e0a03646f67102a";
constexpr std::string_view kPredictionSeed = "789ce3622b482d2acecfe3624ec94f17d0020021a70429";

// The empty message: python3 -c 'import zlib; print(zlib.compress(b"").hex())'
constexpr std::string_view kEmptySeed = "789c030000000001";

protobuf::data::Image SmallImage() {
  protobuf::data::Image image;
  image.set_image_data(std::string("\x01\x02\x03", 3));
  image.set_height(480);
  image.set_width(640);
  image.set_frame(7);
  return image;
}

protobuf::data::Image BigImage() {
  protobuf::data::Image image;
  std::string pixels;
  for (int i = 0; i < 300; ++i) pixels.push_back(static_cast<char>((i * 7) % 13));
  image.set_image_data(pixels);
  image.set_height(10);
  image.set_width(10);
  image.set_frame(42);
  auto* md = image.mutable__message_data();
  md->set_environment(protobuf::common::DEVELOPMENT);
  md->set_sending_service("camera");
  md->set_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8");
  md->set_iso_date("2018-07-30T08:26:31.123456+00:00");
  md->set_trace_id("0af7651916cd43dd8448eb211c80319c");
  return image;
}

protobuf::predictions::Prediction SmallPrediction() {
  protobuf::predictions::Prediction p;
  p.add_object("person");
  p.add_object("dog");
  p.set_frame(42);
  return p;
}

EncodeOptions With(Encoding e, int level = -1) {
  EncodeOptions o;
  o.encoding = e;
  o.zlib_level = level;
  return o;
}

EncodeOptions Confluent(int32_t schema_id, std::vector<int32_t> indexes = {}) {
  EncodeOptions o;
  o.encoding = Encoding::kConfluent;
  o.schema_id = schema_id;
  o.message_indexes = std::move(indexes);
  return o;
}

std::string EncodeOrDie(const google::protobuf::MessageLite& m, const EncodeOptions& o) {
  std::string out;
  absl::Status s = Encode(m, o, &out);
  EXPECT_TRUE(s.ok()) << s;
  return out;
}

absl::Status DecodeImage(std::string_view value, Encoding e, protobuf::data::Image* out,
                         DecodeLimits limits = {}) {
  std::string scratch;
  return Decode(value, e, out, limits, &scratch);
}

// --- names -------------------------------------------------------------------------------------

TEST(EncodingNames, RoundTripAndCaseInsensitive) {
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    absl::StatusOr<Encoding> parsed = ParseEncoding(EncodingName(e));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, e);
  }
  EXPECT_EQ(EncodingName(Encoding::kSeed), "seed");
  EXPECT_EQ(EncodingName(Encoding::kRaw), "raw");
  EXPECT_EQ(EncodingName(Encoding::kConfluent), "confluent");
  EXPECT_EQ(*ParseEncoding("SEED"), Encoding::kSeed);
  EXPECT_EQ(*ParseEncoding("Confluent"), Encoding::kConfluent);
}

TEST(EncodingNames, UnknownNameIsInvalidArgumentNamingIt) {
  absl::StatusOr<Encoding> e = ParseEncoding("zstd");
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(e.status().message()), HasSubstr("zstd"));
  EXPECT_EQ(ParseEncoding("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseEncoding("seeds").status().code(), absl::StatusCode::kInvalidArgument);
}

// --- seed: byte-identical to Python's zlib.compress -------------------------------------------

TEST(SeedEncoding, MessagesSerializeToTheHandWrittenBytes) {
  EXPECT_EQ(Hex(SmallImage().SerializeAsString()), kSmallSerialized);
  EXPECT_EQ(Hex(SmallPrediction().SerializeAsString()), kPredictionSerialized);
}

TEST(SeedEncoding, MatchesPythonZlibCompress) {
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), With(Encoding::kSeed))), kSmallSeed);
  EXPECT_EQ(Hex(EncodeOrDie(BigImage(), With(Encoding::kSeed))), kBigSeed);
  EXPECT_EQ(Hex(EncodeOrDie(SmallPrediction(), With(Encoding::kSeed))), kPredictionSeed);
  EXPECT_EQ(Hex(EncodeOrDie(protobuf::data::Image(), With(Encoding::kSeed))), kEmptySeed);
  // Level 6 is what -1 means.
  EXPECT_EQ(Hex(EncodeOrDie(BigImage(), With(Encoding::kSeed, 6))), kBigSeed);
}

TEST(SeedEncoding, OtherLevelsMatchPythonToo) {
  // Alternating levels also exercises re-initializing the per-thread stream.
  EXPECT_EQ(Hex(EncodeOrDie(BigImage(), With(Encoding::kSeed, 9))), kBigSeedLevel9);
  EXPECT_EQ(Hex(EncodeOrDie(BigImage(), With(Encoding::kSeed, 1))), kBigSeedLevel1);
  EXPECT_EQ(Hex(EncodeOrDie(BigImage(), With(Encoding::kSeed))), kBigSeed);
  EXPECT_EQ(Hex(EncodeOrDie(BigImage(), With(Encoding::kSeed, 1))), kBigSeedLevel1);
}

TEST(SeedEncoding, EncodeSerializedGivesTheSameBytes) {
  std::string out;
  ASSERT_TRUE(EncodeSerialized(Unhex(kSmallSerialized), With(Encoding::kSeed), &out).ok());
  EXPECT_EQ(Hex(out), kSmallSeed);
  ASSERT_TRUE(EncodeSerialized(BigImage().SerializeAsString(), With(Encoding::kSeed), &out).ok());
  EXPECT_EQ(Hex(out), kBigSeed);
}

TEST(SeedEncoding, BadLevelIsInvalidArgument) {
  std::string out;
  EXPECT_EQ(Encode(SmallImage(), With(Encoding::kSeed, 10), &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeSerialized("x", With(Encoding::kSeed, -2), &out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(SeedEncoding, DecodesThePythonBytes) {
  protobuf::data::Image image;
  ASSERT_TRUE(DecodeImage(Unhex(kBigSeed), Encoding::kSeed, &image).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(image, BigImage()));
  ASSERT_TRUE(DecodeImage(Unhex(kBigSeedLevel1), Encoding::kSeed, &image).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(image, BigImage()));
  ASSERT_TRUE(DecodeImage(Unhex(kEmptySeed), Encoding::kSeed, &image).ok());
  EXPECT_EQ(image.ByteSizeLong(), 0u);
}

// --- round trips -------------------------------------------------------------------------------

TEST(RoundTrip, EveryEncoding) {
  const std::vector<EncodeOptions> all = {With(Encoding::kSeed), With(Encoding::kSeed, 1),
                                          With(Encoding::kRaw),  Confluent(42),
                                          Confluent(7, {1, 2}),  Confluent(1 << 30, {3, 0, 300})};
  for (const EncodeOptions& o : all) {
    for (const protobuf::data::Image& original :
         {SmallImage(), BigImage(), protobuf::data::Image()}) {
      std::string value = EncodeOrDie(original, o);
      EXPECT_EQ(DetectEncoding(value), o.encoding) << Hex(value);
      protobuf::data::Image decoded;
      absl::Status s = DecodeImage(value, o.encoding, &decoded);
      ASSERT_TRUE(s.ok()) << s;
      EXPECT_TRUE(MessageDifferencer::Equals(decoded, original))
          << EncodingName(o.encoding) << ": " << decoded.DebugString();
    }
  }
}

TEST(RoundTrip, DecodeClearsTheOutputFirst) {
  protobuf::data::Image decoded = BigImage();
  decoded.set_source("stale");
  ASSERT_TRUE(DecodeImage(Unhex(kSmallSeed), Encoding::kSeed, &decoded).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(decoded, SmallImage()));
  // Also on failure: nothing of the previous message survives.
  decoded = BigImage();
  EXPECT_FALSE(DecodeImage("\x78\x9c\x00", Encoding::kSeed, &decoded).ok());
  EXPECT_EQ(decoded.ByteSizeLong(), 0u);
}

TEST(RoundTrip, LargeMessage) {
  protobuf::data::Image big;
  std::string pixels(640 * 480 * 3, '\0');
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<char>((i * 31) ^ (i >> 9));
  big.set_image_data(pixels);
  std::string value = EncodeOrDie(big, With(Encoding::kSeed));
  protobuf::data::Image decoded;
  ASSERT_TRUE(DecodeImage(value, Encoding::kSeed, &decoded).ok());
  EXPECT_EQ(decoded.image_data(), pixels);
}

// --- raw and Confluent golden bytes -----------------------------------------------------------

TEST(RawEncoding, IsTheSerializedMessage) {
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), With(Encoding::kRaw))), kSmallSerialized);
  std::string out = "previous content";
  ASSERT_TRUE(EncodeSerialized(Unhex(kSmallSerialized), With(Encoding::kRaw), &out).ok());
  EXPECT_EQ(Hex(out), kSmallSerialized);
}

TEST(ConfluentEncoding, GoldenBytes) {
  const std::string payload(kSmallSerialized);
  // schema id 42, indexes [0] (written as the single 0 byte; empty means [0] too)
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), Confluent(42))), "000000002a00" + payload);
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), Confluent(42, {0}))), "000000002a00" + payload);
  // indexes [1, 2]: count 2 -> zigzag 4; 1 -> 2; 2 -> 4
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), Confluent(42, {1, 2}))), "000000002a040204" + payload);
  // big-endian schema id; index 300 -> zigzag 600 -> varint d8 04
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), Confluent(0x01020304, {300}))),
            "000102030402d804" + payload);
  // a path [0, 0] is not the shortcut: count 2, then two zeros
  EXPECT_EQ(Hex(EncodeOrDie(SmallImage(), Confluent(1, {0, 0}))), "0000000001040000" + payload);
  std::string out;
  ASSERT_TRUE(EncodeSerialized(Unhex(kSmallSerialized), Confluent(42, {1, 2}), &out).ok());
  EXPECT_EQ(Hex(out), "000000002a040204" + payload);
}

TEST(ConfluentEncoding, NegativeIndexIsInvalidArgument) {
  std::string out;
  EXPECT_EQ(Encode(SmallImage(), Confluent(1, {-1}), &out).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EncodeSerialized("", Confluent(1, {2, -5}), &out).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ConfluentFrame, ParsesGoldenHeaders) {
  absl::StatusOr<ConfluentFrame> f = ParseConfluentFrame(Unhex("000000002a00") + "payload");
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->schema_id, 42);
  EXPECT_EQ(f->message_indexes, std::vector<int32_t>{0});
  EXPECT_EQ(f->header_size, 6u);

  f = ParseConfluentFrame(Unhex("000000002a040204"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->message_indexes, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(f->header_size, 8u);

  f = ParseConfluentFrame(Unhex("00ffffffff02d804"));  // schema id -1 as int32, [300]
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->schema_id, -1);
  EXPECT_EQ(f->message_indexes, std::vector<int32_t>{300});

  // The largest 5-byte varint: zigzag 0xfffffffe = 2147483647.
  f = ParseConfluentFrame(Unhex("000000000102feffffff0f"));
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_EQ(f->message_indexes, std::vector<int32_t>{2147483647});
}

TEST(ConfluentFrame, MalformedHeadersAreInvalidArgument) {
  struct Case {
    const char* hex;
    const char* message;
  };
  const Case cases[] = {
      {"", "empty"},
      {"010000002a00", "bad magic"},
      {"78", "bad magic"},
      {"000000002a", "truncated header"},
      {"00000000", "truncated header"},
      {"000000002a80", "truncated varint"},              // count varint never ends
      {"000000002a040280", "truncated varint"},          // second index never ends
      {"000000002a04", "exceeds"},                       // count 2, nothing follows
      {"000000002a0402", "exceeds"},                     // count 2, one byte left
      {"000000002affffffffff01", "overlong varint"},     // 6-byte varint
      {"000000002a80808080f0", "overlong varint"},       // 5th byte carries bits beyond 32
      {"000000002a01", "negative message index count"},  // zigzag 1 = -1
      {"000000002ac801000000", "exceeds"},               // count 100, 4 bytes left
      {"000000002a0203", "negative message index"},      // count 1, index zigzag 3 = -2
  };
  for (const Case& c : cases) {
    absl::StatusOr<ConfluentFrame> f = ParseConfluentFrame(Unhex(c.hex));
    EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << c.hex;
    EXPECT_THAT(std::string(f.status().message()), HasSubstr(c.message)) << c.hex;
    protobuf::data::Image image;
    EXPECT_EQ(DecodeImage(Unhex(c.hex), Encoding::kConfluent, &image).code(),
              absl::StatusCode::kInvalidArgument)
        << c.hex;
  }
}

// --- detection ---------------------------------------------------------------------------------

TEST(DetectEncoding, ByContent) {
  EXPECT_EQ(DetectEncoding(Unhex(kSmallSeed)), Encoding::kSeed);
  EXPECT_EQ(DetectEncoding(Unhex(kBigSeedLevel9)), Encoding::kSeed);  // 78 da
  EXPECT_EQ(DetectEncoding(Unhex(kBigSeedLevel1)), Encoding::kSeed);  // 78 01
  EXPECT_EQ(DetectEncoding(Unhex("785e")), Encoding::kSeed);          // levels 2-5
  EXPECT_EQ(DetectEncoding(Unhex("000000002a00")), Encoding::kConfluent);
  EXPECT_EQ(DetectEncoding(std::string(1, '\0')), Encoding::kConfluent);
  EXPECT_EQ(DetectEncoding(Unhex(kSmallSerialized)), Encoding::kRaw);
  EXPECT_EQ(DetectEncoding(Unhex(kPredictionSerialized)), Encoding::kRaw);
  EXPECT_EQ(DetectEncoding(""), Encoding::kRaw);  // the empty message
  EXPECT_EQ(DetectEncoding("\x78"), Encoding::kRaw);
  EXPECT_EQ(DetectEncoding("\x78\x9d"), Encoding::kRaw);      // FCHECK wrong
  EXPECT_EQ(DetectEncoding("\x1f\x8b\x08"), Encoding::kRaw);  // gzip is not seed
}

// --- seed: malformed input ---------------------------------------------------------------------

void ExpectSeedInvalid(std::string_view value, std::string_view message_part) {
  std::string scratch;
  absl::StatusOr<std::string_view> s = Unwrap(value, Encoding::kSeed, DecodeLimits{}, &scratch);
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << Hex(value);
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(std::string(message_part)))
      << Hex(value);
}

TEST(SeedMalformed, TruncatedStream) {
  const std::string good = Unhex(kBigSeed);
  ExpectSeedInvalid(good.substr(0, good.size() - 1), "truncated");  // checksum cut
  ExpectSeedInvalid(good.substr(0, good.size() - 4), "truncated");  // checksum missing
  ExpectSeedInvalid(good.substr(0, good.size() / 2), "truncated");
  ExpectSeedInvalid(good.substr(0, 2), "truncated");  // header only
  ExpectSeedInvalid("", "truncated");
}

TEST(SeedMalformed, BadHeader) {
  std::string bad = Unhex(kSmallSeed);
  bad[1] = static_cast<char>(0x9d);  // FCHECK no longer divides
  ExpectSeedInvalid(bad, "incorrect header check");
  ExpectSeedInvalid(Unhex(kSmallSerialized), "corrupt zlib stream");        // raw bytes as seed
  ExpectSeedInvalid(Unhex("1f8b0800000000000003"), "corrupt zlib stream");  // gzip, not zlib
  // FDICT set (78 bb passes FCHECK): a preset dictionary, which the original never used.
  ExpectSeedInvalid(Unhex("78bb00000000"), "dictionary");
}

TEST(SeedMalformed, BadChecksum) {
  std::string bad = Unhex(kBigSeed);
  bad.back() = static_cast<char>(bad.back() ^ 1);
  ExpectSeedInvalid(bad, "incorrect data check");
}

TEST(SeedMalformed, CorruptDeflateData) {
  std::string bad = Unhex(kSmallSeed);
  bad[2] = static_cast<char>(0xff);  // block type 3 is reserved
  ExpectSeedInvalid(bad, "corrupt zlib stream");
}

TEST(SeedMalformed, TrailingGarbage) {
  ExpectSeedInvalid(Unhex(kSmallSeed) + "x", "1 bytes of trailing garbage");
  ExpectSeedInvalid(Unhex(kSmallSeed) + Unhex(kSmallSeed), "trailing garbage");
}

TEST(SeedMalformed, NullScratchIsInvalidArgument) {
  EXPECT_EQ(Unwrap(Unhex(kSmallSeed), Encoding::kSeed, {}, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// A zlib stream of `1 + repeats * 258` zero bytes, written by hand: one fixed-Huffman block holding
// a literal 0 and then `repeats` copies of <length 258, distance 1> (13 bits per 258 bytes), and
// the Adler-32 of that many zeros (a = 1, b = n mod 65521). 100 MB take ~630 KB.
std::string ZeroBomb(size_t repeats) {
  std::string out = "\x78\x9c";
  uint32_t acc = 0;
  int bits = 0;
  auto put = [&](uint32_t value, int n) {  // LSB first, as deflate packs header fields
    for (int i = 0; i < n; ++i) {
      acc |= ((value >> i) & 1u) << bits;
      if (++bits == 8) {
        out.push_back(static_cast<char>(acc));
        acc = 0;
        bits = 0;
      }
    }
  };
  auto put_code = [&](uint32_t code, int n) {  // Huffman codes go MSB first
    for (int i = n - 1; i >= 0; --i) put((code >> i) & 1u, 1);
  };
  put(1, 1);          // BFINAL
  put(1, 2);          // BTYPE = fixed Huffman
  put_code(0x30, 8);  // literal 0
  for (size_t i = 0; i < repeats; ++i) {
    put_code(0xC5, 8);  // length code 285 = 258
    put_code(0, 5);     // distance code 0 = 1
  }
  put_code(0, 7);  // end of block
  if (bits > 0) out.push_back(static_cast<char>(acc));
  const uint64_t n = 1 + uint64_t{repeats} * 258;
  const uint32_t adler = static_cast<uint32_t>((n % 65521) << 16) | 1u;
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(adler >> shift));
  return out;
}

TEST(SeedBomb, TheHandWrittenBombIsAValidStream) {
  const std::string bomb = ZeroBomb(1000);
  std::string scratch;
  absl::StatusOr<std::string_view> out = Unwrap(bomb, Encoding::kSeed, {}, &scratch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), 1 + 1000 * 258u);
  EXPECT_EQ(out->find_first_not_of('\0'), std::string_view::npos);
}

TEST(SeedBomb, HundredMegabytesOfZerosStopAtTheLimit) {
  const std::string bomb = ZeroBomb((100u << 20) / 258);
  ASSERT_LT(bomb.size(), 1u << 20);
  DecodeLimits limits;
  limits.max_decoded_bytes = 1 << 20;
  std::string scratch;
  absl::StatusOr<std::string_view> out = Unwrap(bomb, Encoding::kSeed, limits, &scratch);
  EXPECT_EQ(out.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(out.status().message()), HasSubstr("1048576"));
  // Stopped early: the buffer never grew towards 100 MB.
  EXPECT_LE(scratch.capacity(), 4u << 20);

  protobuf::data::Image image;
  EXPECT_EQ(Decode(bomb, Encoding::kSeed, &image, limits, &scratch).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SeedBomb, DefaultLimitAlsoStopsIt) {
  const std::string bomb = ZeroBomb((100u << 20) / 258);
  std::string scratch;
  EXPECT_EQ(Unwrap(bomb, Encoding::kSeed, DecodeLimits{}, &scratch).status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_LE(scratch.capacity(), 2 * (DecodeLimits{}.max_decoded_bytes + 1));
}

TEST(SeedBomb, PythonStyleBombOfZlibCompressedZeros) {
  // What zlib.compress(bytes(8 << 20)) gives: ~8 KB that inflate to 8 MB.
  std::string bomb;
  ASSERT_TRUE(EncodeSerialized(std::string(8u << 20, '\0'), With(Encoding::kSeed), &bomb).ok());
  ASSERT_LT(bomb.size(), 16u << 10);
  DecodeLimits limits;
  limits.max_decoded_bytes = 1 << 20;
  std::string scratch;
  EXPECT_EQ(Unwrap(bomb, Encoding::kSeed, limits, &scratch).status().code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(SeedBomb, LimitIsInclusive) {
  std::string value;
  ASSERT_TRUE(EncodeSerialized(std::string(100000, 'a'), With(Encoding::kSeed), &value).ok());
  std::string scratch;
  DecodeLimits limits;
  limits.max_decoded_bytes = 100000;
  absl::StatusOr<std::string_view> out = Unwrap(value, Encoding::kSeed, limits, &scratch);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(out->size(), 100000u);
  limits.max_decoded_bytes = 99999;
  EXPECT_EQ(Unwrap(value, Encoding::kSeed, limits, &scratch).status().code(),
            absl::StatusCode::kResourceExhausted);
  limits.max_decoded_bytes = 0;
  EXPECT_EQ(Unwrap(value, Encoding::kSeed, limits, &scratch).status().code(),
            absl::StatusCode::kResourceExhausted);
  // The empty message fits a zero limit.
  EXPECT_TRUE(Unwrap(Unhex(kEmptySeed), Encoding::kSeed, limits, &scratch).ok());
}

TEST(SeedBomb, RefusalCarriesTheDecodeLimitReasonAndReleasesTheBuffer) {
  const std::string bomb = ZeroBomb((100u << 20) / 258);
  DecodeLimits limits;
  limits.max_decoded_bytes = 1 << 20;
  std::string scratch;
  absl::Status s = Unwrap(bomb, Encoding::kSeed, limits, &scratch).status();
  EXPECT_EQ(GetErrorReason(s), ErrorReason::kDecodeLimit) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("max_decoded_bytes"));
  // A consumer thread that met one bomb does not keep a buffer of the limit's size for ever.
  EXPECT_EQ(scratch.capacity(), std::string().capacity());
}

// --- the record size limit (any encoding) -----------------------------------------------------

TEST(RecordLimit, DefaultsAreSixtyFourMebibytes) {
  EXPECT_EQ(DecodeLimits{}.max_record_bytes, 64u << 20);
  EXPECT_EQ(DecodeLimits{}.max_decoded_bytes, 64u << 20);
}

TEST(RecordLimit, EveryEncodingRefusesALargerValueBeforeDecodingIt) {
  protobuf::data::Image image = BigImage();
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    const std::string value = EncodeOrDie(image, With(e));
    std::string scratch;
    DecodeLimits limits;
    limits.max_record_bytes = value.size();  // inclusive
    protobuf::data::Image out;
    ASSERT_TRUE(Decode(value, e, &out, limits, &scratch).ok()) << EncodingName(e);

    limits.max_record_bytes = value.size() - 1;
    absl::Status s = Decode(value, e, &out, limits, &scratch);
    EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << EncodingName(e);
    EXPECT_EQ(GetErrorReason(s), ErrorReason::kDecodeLimit) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(absl::StrCat("record value of ", value.size(),
                                                                 " bytes exceeds the limit of ",
                                                                 value.size() - 1, " bytes")));
    EXPECT_EQ(out.ByteSizeLong(), 0u) << "nothing is parsed from a refused record";
    EXPECT_EQ(Unwrap(value, e, limits, &scratch).status().code(),
              absl::StatusCode::kResourceExhausted);
    // DecodeInto checks it too.
    EXPECT_EQ(GetErrorReason(DecodeInto(value, e, &out, limits, &scratch)),
              ErrorReason::kDecodeLimit);
  }
}

TEST(RecordLimit, MalformedRecordsCarryTheirReason) {
  std::string scratch;
  protobuf::data::Image out;
  EXPECT_EQ(GetErrorReason(Decode("\x78\x9c\x01", Encoding::kSeed, &out, {}, &scratch)),
            ErrorReason::kMalformedRecord);
  EXPECT_EQ(
      GetErrorReason(Decode(std::string("\x01\x00", 2), Encoding::kConfluent, &out, {}, &scratch)),
      ErrorReason::kMalformedRecord);
  EXPECT_EQ(GetErrorReason(Decode("\x0f\x01", Encoding::kRaw, &out, {}, &scratch)),
            ErrorReason::kMalformedRecord);
}

// --- payloads that do not parse as the expected type ------------------------------------------

TEST(WrongType, InvalidProtobufIsInvalidArgumentNamingTheType) {
  protobuf::data::Image image;
  // tag 0x0a (field 1, length-delimited) announcing 5 bytes, but only 1 follows
  absl::Status s = DecodeImage(Unhex("0a0501"), Encoding::kRaw, &image);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("protobuf.data.Image"));
  // varint that never ends; wire type 7 does not exist; field number 0
  EXPECT_EQ(DecodeImage(Unhex("10ffffffffffffffffffff"), Encoding::kRaw, &image).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage(Unhex("0f01"), Encoding::kRaw, &image).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage(Unhex("0201"), Encoding::kRaw, &image).code(),
            absl::StatusCode::kInvalidArgument);
  // The same garbage behind valid framings fails the same way.
  std::string seed;
  ASSERT_TRUE(EncodeSerialized(Unhex("0a0501"), With(Encoding::kSeed), &seed).ok());
  EXPECT_EQ(DecodeImage(seed, Encoding::kSeed, &image).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeImage(Unhex("000000002a000a0501"), Encoding::kConfluent, &image).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WrongType, JpegFrameReadAsPredictionFails) {
  // An Image's pixel bytes land in Prediction.object, a proto3 string: invalid UTF-8 is rejected.
  protobuf::data::Image frame;
  frame.set_image_data(std::string("\xff\xd8\xff\xe0\x00\x10JFIF", 10));
  frame.set_encoding(protobuf::data::Image::JPEG);
  const std::string value = EncodeOrDie(frame, With(Encoding::kSeed));
  protobuf::predictions::Prediction prediction;
  std::string scratch;
  absl::Status s = Decode(value, Encoding::kSeed, &prediction, DecodeLimits{}, &scratch);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("protobuf.predictions.Prediction"));
}

TEST(WrongType, PredictionReadAsImageIsAcceptedByProtobuf) {
  // Documented limitation: protobuf cannot tell types apart. Prediction.object (field 1, string)
  // has Image.image_data's wire type, so the last object becomes the pixel bytes; frame (field 2)
  // becomes height. Only the topic -> type binding (TypeRegistry) prevents this.
  protobuf::data::Image image;
  absl::Status s = DecodeImage(Unhex(kPredictionSeed), Encoding::kSeed, &image);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(image.image_data(), "dog");
  EXPECT_EQ(image.height(), 42);
}

// --- views and buffer reuse --------------------------------------------------------------------

TEST(Unwrap, ViewsPointIntoValueOrScratch) {
  const std::string raw = Unhex(kSmallSerialized);
  std::string scratch;
  absl::StatusOr<std::string_view> v = Unwrap(raw, Encoding::kRaw, {}, &scratch);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data(), raw.data());
  EXPECT_EQ(v->size(), raw.size());

  const std::string framed = Unhex("000000002a040204") + raw;
  v = Unwrap(framed, Encoding::kConfluent, {}, nullptr);  // no scratch needed
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data(), framed.data() + 8);
  EXPECT_EQ(*v, raw);

  v = Unwrap(Unhex(kSmallSeed), Encoding::kSeed, {}, &scratch);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->data(), scratch.data());
  EXPECT_EQ(*v, raw);
}

TEST(Allocation, WarmEncodeAndUnwrapDoNotAllocate) {
  const protobuf::data::Image image = BigImage();
  const std::string seed = Unhex(kBigSeed);
  std::string out;
  std::string scratch;
  for (const EncodeOptions& o :
       {With(Encoding::kSeed), With(Encoding::kRaw), Confluent(3, {1, 2})}) {
    ASSERT_TRUE(Encode(image, o, &out).ok());  // warm: buffers grow, zlib state is created
    const long before = g_allocations;
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(Encode(image, o, &out).ok());
    EXPECT_EQ(g_allocations - before, 0) << EncodingName(o.encoding);
  }
  ASSERT_TRUE(Unwrap(seed, Encoding::kSeed, {}, &scratch).ok());
  const long before = g_allocations;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(Unwrap(seed, Encoding::kSeed, {}, &scratch).ok());
  EXPECT_EQ(g_allocations - before, 0);
}

TEST(Concurrency, ThreadsEncodeAndDecodeIndependently) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &failures] {
      const int level = t % 2 == 0 ? -1 : 1;
      const std::string_view want = level == -1 ? kBigSeed : kBigSeedLevel1;
      std::string out, scratch;
      for (int i = 0; i < 200; ++i) {
        protobuf::data::Image decoded;
        if (!Encode(BigImage(), With(Encoding::kSeed, level), &out).ok() || Hex(out) != want ||
            !Decode(out, Encoding::kSeed, &decoded, {}, &scratch).ok() ||
            !MessageDifferencer::Equals(decoded, BigImage())) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

// --- REST form ---------------------------------------------------------------------------------

// DecodeInto merges: what the value does not set is left as it was (the Consumer's pool relies on
// clearing first); failures are the same errors as Decode's.
TEST(DecodeInto, MergesIntoWhatIsThere) {
  protobuf::data::Image sent;
  sent.set_frame(5);
  std::string value;
  EncodeOptions seed;
  seed.encoding = Encoding::kSeed;
  ASSERT_TRUE(Encode(sent, seed, &value).ok());
  protobuf::data::Image out;
  out.set_source("kept");
  std::string scratch;
  ASSERT_TRUE(DecodeInto(value, Encoding::kSeed, &out, DecodeLimits{}, &scratch).ok());
  EXPECT_EQ(out.frame(), 5);
  EXPECT_EQ(out.source(), "kept");
  absl::Status bad = DecodeInto("\x78\x9c\x01", Encoding::kSeed, &out, DecodeLimits{}, &scratch);
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  absl::Status garbage = DecodeInto("\xff\xff\xff", Encoding::kRaw, &out, DecodeLimits{}, &scratch);
  EXPECT_EQ(garbage.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(garbage.message().find("protobuf.data.Image"), std::string::npos) << garbage;
}

TEST(RestForm, WritesLowercaseHex) {
  EXPECT_EQ(ToSeedRestJson(Unhex(kSmallSerialized)),
            std::string("{\"protobuf\":\"") + std::string(kSmallSerialized) + "\"}");
  EXPECT_EQ(ToSeedRestJson(""), "{\"protobuf\":\"\"}");
  EXPECT_EQ(ToSeedRestJson("\xab\xcd\xef"), "{\"protobuf\":\"abcdef\"}");
}

TEST(RestForm, RoundTrip) {
  const std::string serialized = BigImage().SerializeAsString();
  absl::StatusOr<std::string> back = FromSeedRestJson(ToSeedRestJson(serialized));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, serialized);
  // As a Python client would send it (json.dumps adds a space), with extra members and upper case.
  back = FromSeedRestJson(
      "{\"protobuf\": \"0A0301020310E0031880052007\", \"topic\": \"VideoStream\"}");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(Hex(*back), kSmallSerialized);
}

TEST(RestForm, MalformedIsInvalidArgument) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "not valid JSON"},
      {"{\"protobuf\": \"0a\"", "not valid JSON"},
      {"[\"0a\"]", "expected a JSON object"},
      {"{}", "missing"},
      {"{\"proto\": \"0a\"}", "missing"},
      {"{\"protobuf\": 10}", "not a string"},
      {"{\"protobuf\": \"0a0\"}", "odd number"},
      {"{\"protobuf\": \"0g\"}", "invalid hex digit at position 1"},
      {"{\"protobuf\": \"zz\"}", "invalid hex digit at position 0"},
  };
  for (const auto& [json, message] : cases) {
    absl::StatusOr<std::string> r = FromSeedRestJson(json);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << json;
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(message)) << json;
  }
}

}  // namespace
}  // namespace messagecorps
