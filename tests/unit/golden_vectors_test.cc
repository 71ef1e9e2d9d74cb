// Golden vectors (tests/data/golden/vectors.json), the C++ side: for each fixed message (fixed
// uuid, time, trace id), messagecorps must produce exactly the recorded bytes of every encoding
// (seed zlib, raw, Confluent framing), the original's REST form and the header sets, and must read
// the recorded bytes back to the same message. The same file is checked on the Python side
// (tests/interop/golden_vectors.py: protobuf, zlib, confluent-kafka's serializer) in the same ctest
// run, so a change to the bytes of either side breaks a test.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/type_registry.h"

namespace messagecorps {
namespace {

namespace pb = google::protobuf;
using json = nlohmann::json;

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    out.push_back(kDigits[static_cast<uint8_t>(c) >> 4]);
    out.push_back(kDigits[static_cast<uint8_t>(c) & 0xF]);
  }
  return out;
}

std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  }
  return out;
}

json LoadVectors() {
  const char* source = std::getenv("MESSAGECORPS_SOURCE_DIR");
  const std::string path =
      std::string(source != nullptr ? source : ".") + "/tests/data/golden/vectors.json";
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot open " << path;
    return json::object();
  }
  return json::parse(in);
}

class GoldenVectors : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(registry_.AddDescriptorSetFile(MCORPS_ACME_DESCRIPTOR_SET).ok());
    vectors_ = LoadVectors();
    ASSERT_TRUE(vectors_.contains("vectors"));
    ASSERT_GE(vectors_["vectors"].size(), 5u);
  }

  // The vector's message, built from its protobuf-JSON form.
  std::unique_ptr<pb::Message> MessageOf(const json& v) {
    const pb::Descriptor* type = registry_.FindType(v["type"].get<std::string>());
    EXPECT_NE(type, nullptr) << v["type"];
    if (type == nullptr) return nullptr;
    auto message = registry_.NewMessage(type);
    const auto status = pb::util::JsonStringToMessage(v["message"].dump(), message.get());
    EXPECT_TRUE(status.ok()) << v["name"] << ": " << status.ToString();
    return message;
  }

  // The Envelope a send with the vector's fixed ids would use.
  static Envelope EnvelopeOf(const json& e) {
    Envelope env;
    const std::string uuid = e["uuid"], iso = e["iso_date"];
    std::copy(uuid.begin(), uuid.end(), env.uuid.begin());
    std::copy(iso.begin(), iso.end(), env.iso_date.begin());
    env.timestamp = e["timestamp"];
    auto trace =
        TraceContext::FromIds(e["trace_id"].get<std::string>(), e["span_id"].get<std::string>());
    EXPECT_TRUE(trace.ok()) << trace.status();
    if (trace.ok()) env.trace = *trace;
    protobuf::common::Environment_Parse(e["environment"].get<std::string>(), &env.environment);
    return env;
  }

  TypeRegistry registry_ = TypeRegistry::WithSeedDefaults();
  json vectors_;
};

TEST_F(GoldenVectors, EveryEncodingProducesTheRecordedBytes) {
  for (const json& v : vectors_["vectors"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto message = MessageOf(v);
    ASSERT_NE(message, nullptr);
    std::string serialized;
    ASSERT_TRUE(message->SerializeToString(&serialized));
    EXPECT_EQ(Hex(serialized), v["serialized_hex"]);

    std::string out;
    EncodeOptions seed;
    ASSERT_TRUE(Encode(*message, seed, &out).ok());
    EXPECT_EQ(Hex(out), v["seed_hex"]) << "seed (zlib, default level) differs from Python's zlib";

    EncodeOptions raw;
    raw.encoding = Encoding::kRaw;
    ASSERT_TRUE(Encode(*message, raw, &out).ok());
    EXPECT_EQ(Hex(out), v["raw_hex"]);

    EncodeOptions confluent;
    confluent.encoding = Encoding::kConfluent;
    confluent.schema_id = v["confluent"]["schema_id"];
    confluent.message_indexes = v["confluent"]["message_indexes"].get<std::vector<int32_t>>();
    ASSERT_TRUE(Encode(*message, confluent, &out).ok());
    EXPECT_EQ(Hex(out), v["confluent"]["hex"])
        << "differs from confluent-kafka's ProtobufSerializer";

    // Without configured indexes the encoder derives them from the type, as Confluent does.
    confluent.message_indexes.clear();
    ASSERT_TRUE(Encode(*message, confluent, &out).ok());
    EXPECT_EQ(Hex(out), v["confluent"]["hex"]) << "message indexes derived from the type";

    // The REST form: same JSON value as the original's json.dumps (which adds a space).
    EXPECT_EQ(json::parse(ToSeedRestJson(serialized)), json::parse(v["rest"].get<std::string>()));
  }
}

TEST_F(GoldenVectors, RecordedBytesDecodeToTheMessage) {
  for (const json& v : vectors_["vectors"]) {
    SCOPED_TRACE(v["name"].get<std::string>());
    auto want = MessageOf(v);
    ASSERT_NE(want, nullptr);
    struct Case {
      std::string hex;
      Encoding declared;
    };
    for (const Case& c : {Case{v["seed_hex"], Encoding::kSeed}, Case{v["raw_hex"], Encoding::kRaw},
                          Case{v["confluent"]["hex"], Encoding::kConfluent}}) {
      const std::string value = Unhex(c.hex);
      auto got = std::unique_ptr<pb::Message>(want->New());
      std::string scratch;
      ASSERT_TRUE(Decode(value, c.declared, got.get(), DecodeLimits{}, &scratch).ok())
          << EncodingName(c.declared);
      EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*got, *want)) << EncodingName(c.declared);
      // Header-less records (the original's) are told apart by content.
      if (c.declared != Encoding::kRaw) {
        EXPECT_EQ(DetectEncoding(value), c.declared);
      }
    }
    auto frame = ParseConfluentFrame(Unhex(v["confluent"]["hex"]));
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->schema_id, v["confluent"]["schema_id"].get<int32_t>());
    EXPECT_EQ(frame->message_indexes,
              v["confluent"]["message_indexes"].get<std::vector<int32_t>>());
    auto rest = FromSeedRestJson(v["rest"].get<std::string>());
    ASSERT_TRUE(rest.ok()) << rest.status();
    EXPECT_EQ(Hex(*rest), v["serialized_hex"]);
  }
}

TEST_F(GoldenVectors, HeaderSetsAreTheRecordedOnes) {
  int checked = 0;
  for (const json& v : vectors_["vectors"]) {
    if (!v.contains("headers")) continue;  // a type without an envelope field
    SCOPED_TRACE(v["name"].get<std::string>());
    const json& e = v["envelope"];
    const Envelope env = EnvelopeOf(e);
    const std::string source = CloudEventsSource(e["service"].get<std::string>());
    const std::string type = v["type"];
    for (Encoding encoding : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
      const std::string name(EncodingName(encoding));
      json standard = json::array(), compact = json::array();
      ForEachEnvelopeHeader(env, type, encoding, source,
                            [&](std::string_view k, std::string_view val) {
                              standard.push_back({std::string(k), std::string(val)});
                            });
      ForEachCompactHeader(env, type, encoding, [&](std::string_view k, std::string_view val) {
        compact.push_back({std::string(k), std::string(val)});
      });
      EXPECT_EQ(standard, v["headers"][name]["standard"]) << name;
      EXPECT_EQ(compact, v["headers"][name]["compact"]) << name;
    }
    // The envelope fields in the message are what Stamp writes: iso_date in the original's form.
    std::array<char, 32> iso;
    const auto t = std::chrono::system_clock::time_point(
        std::chrono::microseconds(static_cast<int64_t>(e["timestamp"].get<double>() * 1e6 + 0.5)));
    if (e["timestamp"].get<double>() > 0) {
      FormatIsoDate(t, iso);
      EXPECT_EQ(std::string(iso.data(), iso.size()), e["iso_date"]);
    }
    ++checked;
  }
  EXPECT_EQ(checked, 3);  // image-small, image-empty, prediction (original-image: no headers)
}

}  // namespace
}  // namespace messagecorps
