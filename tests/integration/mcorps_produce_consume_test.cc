// mcorps produce / consume against a real broker, through the real binary: JSON lines in, the same
// fields out; types not compiled in (descriptor set, .proto compiled at run time); the original's
// REST form; offsets, keys, headers, load generation; and the bad inputs of both commands.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/producer.h"
#include "support/kafka_test_env.h"
#include "unit/mcorps_subprocess.h"

namespace mcorps::testing {
namespace {

using messagecorps::testing::CreateTopicOrFail;
using messagecorps::testing::TestBrokers;
using messagecorps::testing::UniqueName;
using ::testing::HasSubstr;
using ::testing::Not;
using Json = nlohmann::json;

const std::string kSource =
    std::getenv("MESSAGECORPS_SOURCE_DIR") ? std::getenv("MESSAGECORPS_SOURCE_DIR") : ".";

class McorpsProduceConsume : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    ASSERT_FALSE(brokers_.empty());
  }

  std::string NewTopic(const std::string& prefix, int partitions = 1) {
    std::string name = UniqueName(prefix);
    CreateTopicOrFail(brokers_, name, partitions);
    return name;
  }

  RunResult Produce(const std::string& topic, std::vector<std::string> args,
                    const std::string& input) {
    std::vector<std::string> all = {"produce", "-b", brokers_, "-t", topic};
    all.insert(all.end(), args.begin(), args.end());
    RunOptions options;
    options.stdin_data = input;
    return RunMcorps(all, options);
  }

  RunResult Consume(const std::string& topic, std::vector<std::string> args) {
    std::vector<std::string> all = {"consume", "-b", brokers_, "-t", topic};
    all.insert(all.end(), args.begin(), args.end());
    return RunMcorps(all);
  }

  // consume -e: every record as parsed JSON.
  std::vector<Json> ConsumeJson(const std::string& topic, std::vector<std::string> args = {}) {
    args.push_back("-e");
    RunResult r = Consume(topic, args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    std::vector<Json> records;
    for (const std::string& line : Lines(r.out)) {
      Json j = Json::parse(line, nullptr, false);
      EXPECT_FALSE(j.is_discarded()) << "not JSON: " << line;
      records.push_back(std::move(j));
    }
    return records;
  }

  std::string brokers_;
};

// Each field of `sent` is in `received` with the same value.
void ExpectFieldsEqual(const Json& sent, const Json& received) {
  for (const auto& [key, value] : sent.items()) {
    ASSERT_TRUE(received.contains(key)) << key << " missing in " << received.dump();
    EXPECT_EQ(received[key], value) << "field " << key;
  }
}

TEST_F(McorpsProduceConsume, ThousandJsonLinesComeBackFieldByField) {
  const std::string topic = NewTopic("mcorps-images", 3);
  std::map<std::string, Json> sent;  // by frame
  std::string input;
  for (int i = 0; i < 1000; ++i) {
    std::string pixels(16, '\0');
    for (size_t b = 0; b < pixels.size(); ++b) pixels[b] = static_cast<char>((i * 31 + b) & 0xff);
    Json line = {{"image_data", absl::Base64Escape(pixels)},
                 {"height", 480},
                 {"width", 640 + i % 3},
                 {"frame", std::to_string(i + 1)},  // int64: a string in the JSON mapping
                 {"encoding", i % 2 ? "PNG" : "JPEG"},
                 {"channels", 3},
                 {"capture_time", 1700000000.25 + i},
                 {"source", absl::StrCat("cam-", i % 7)}};
    sent[std::to_string(i + 1)] = line;
    absl::StrAppend(&input, line.dump(), "\n");
  }
  // Keyed by frame so the records spread over the partitions (keyless ones stick to one).
  RunResult produced =
      Produce(topic, {"--type", "protobuf.data.Image", "--key-field", "frame"}, input);
  ASSERT_EQ(produced.exit_code, 0) << Describe(produced);
  EXPECT_THAT(produced.err, HasSubstr("sent 1000, delivered 1000, failed 0"));
  EXPECT_TRUE(produced.out.empty());

  std::vector<Json> records = ConsumeJson(topic);
  ASSERT_EQ(records.size(), 1000u);
  std::set<int> partitions;
  for (const Json& record : records) {
    ASSERT_EQ(record["type"], "protobuf.data.Image") << record.dump();
    EXPECT_EQ(record["topic"], topic);
    EXPECT_EQ(record["encoding"], "seed");
    // The default header set: the trace only; the type came from the value's envelope.
    EXPECT_EQ(record["headers"].size(), 1u) << record["headers"].dump();
    EXPECT_TRUE(record["headers"].contains("traceparent"));
    const Json& message = record["message"];
    const std::string frame = message["frame"];
    ASSERT_EQ(sent.count(frame), 1u) << "unexpected or repeated frame " << frame;
    ExpectFieldsEqual(sent[frame], message);
    EXPECT_EQ(record["key"], frame);
    sent.erase(frame);
    // The envelope, stamped on the way out and completed on the way in.
    const Json& envelope = message["_message_data"];
    EXPECT_EQ(envelope["trace_id"].get<std::string>().size(), 32u);
    EXPECT_EQ(envelope["uuid"].get<std::string>().size(), 36u);
    EXPECT_EQ(envelope.value("offset", "0"), std::to_string(record["offset"].get<int64_t>()));
    EXPECT_EQ(envelope.value("partition", "0"), std::to_string(record["partition"].get<int32_t>()));
    partitions.insert(record["partition"].get<int>());
  }
  EXPECT_TRUE(sent.empty()) << sent.size() << " frames missing";
  EXPECT_EQ(partitions.size(), 3u);
}

TEST_F(McorpsProduceConsume, CamelCaseOnInputAndOutput) {
  const std::string topic = NewTopic("mcorps-camel");
  RunResult produced = Produce(topic, {"--type", "protobuf.data.Image"},
                               "{\"imageData\": \"AQID\", \"captureTime\": 2.5}\n");
  ASSERT_EQ(produced.exit_code, 0) << Describe(produced);
  std::vector<Json> proto_names = ConsumeJson(topic, {"--type", "protobuf.data.Image"});
  ASSERT_EQ(proto_names.size(), 1u);
  EXPECT_EQ(proto_names[0]["message"]["image_data"], "AQID");
  EXPECT_EQ(proto_names[0]["message"]["capture_time"], 2.5);
  std::vector<Json> camel = ConsumeJson(topic, {"--type", "protobuf.data.Image", "--json-camel"});
  ASSERT_EQ(camel.size(), 1u);
  EXPECT_EQ(camel[0]["message"]["imageData"], "AQID");
  EXPECT_EQ(camel[0]["message"]["captureTime"], 2.5);
  EXPECT_TRUE(
      camel[0]["message"].contains("MessageData"));  // protobuf's json_name of _message_data
  // pretty: indented, large bytes summarized.
  RunResult pretty = Consume(topic, {"-e", "--type", "protobuf.data.Image", "--format", "pretty"});
  ASSERT_EQ(pretty.exit_code, 0) << Describe(pretty);
  EXPECT_THAT(pretty.out, HasSubstr("\n    \"image_data\": \"<3 bytes>\",\n"));
}

// acme.SensorReading is not compiled into mcorps: its schema comes from a descriptor set made at
// build time, or from the .proto compiled at run time.
TEST_F(McorpsProduceConsume, TypeNotCompiledInRoundTripsThroughDescriptorSetAndProto) {
  const std::string topic = NewTopic("mcorps-acme");
  const Json reading = {{"sensor_id", "s-1"},
                        {"value", 21.5},
                        {"unit", "CELSIUS"},
                        {"samples", {1, 2, 3}},
                        {"labels", {{"room", "a"}, {"floor", "2"}}},
                        {"calibration", {{"offset", 0.5}, {"scale", 2.0}}}};
  const std::vector<std::string> descriptors = {"--type", "acme.SensorReading", "--descriptors",
                                                MCORPS_ACME_DESCRIPTOR_SET};
  const std::vector<std::string> proto = {"--type",       "acme.SensorReading",
                                          "--proto-path", kSource + "/tests/data/proto",
                                          "--proto",      "acme/sensor.proto"};
  RunResult by_set = Produce(topic, descriptors, reading.dump() + "\n");
  ASSERT_EQ(by_set.exit_code, 0) << Describe(by_set);
  RunResult by_proto = Produce(topic, proto, reading.dump() + "\n");
  ASSERT_EQ(by_proto.exit_code, 0) << Describe(by_proto);

  // The record names its type (ce_type, for a type without an envelope): the descriptors alone
  // suffice to decode it.
  for (const auto& schema : {std::vector<std::string>{"--descriptors", MCORPS_ACME_DESCRIPTOR_SET},
                             std::vector<std::string>{"--proto-path", kSource + "/tests/data/proto",
                                                      "--proto", "acme/sensor.proto"}}) {
    std::vector<Json> records = ConsumeJson(topic, schema);
    ASSERT_EQ(records.size(), 2u);
    for (const Json& record : records) {
      ASSERT_EQ(record["type"], "acme.SensorReading") << record.dump();
      ExpectFieldsEqual(reading, record["message"]);
      EXPECT_TRUE(record["message"].contains("_message_data"));
    }
  }
  // Without the schema the records are not skipped: an error object with the raw bytes.
  std::vector<Json> unknown = ConsumeJson(topic);
  ASSERT_EQ(unknown.size(), 2u);
  for (const Json& record : unknown) {
    EXPECT_FALSE(record.contains("message"));
    EXPECT_THAT(record["error"].get<std::string>(), HasSubstr("no message type"));
    EXPECT_THAT(record["value_hex"].get<std::string>(), ::testing::StartsWith("789c"));  // zlib
    EXPECT_EQ(record["offset"].is_number(), true);
  }
}

// The original's REST form of a record equals one computed here by hand: a header-less, seed
// (zlib) record as the 2018 producer wrote it.
TEST_F(McorpsProduceConsume, SeedHexIsTheOriginalRestForm) {
  const std::string topic = NewTopic("mcorps-seedhex");
  // protobuf.data.Image{height: 2, width: 3, frame: 7}: tags 0x10, 0x18, 0x20 with varints.
  const std::string serialized("\x10\x02\x18\x03\x20\x07", 6);
  uLongf size = compressBound(serialized.size());
  std::string value(size, '\0');
  ASSERT_EQ(compress(reinterpret_cast<Bytef*>(value.data()), &size,
                     reinterpret_cast<const Bytef*>(serialized.data()), serialized.size()),
            Z_OK);
  value.resize(size);
  {
    auto producer = messagecorps::testing::MakeProducer(brokers_);
    ASSERT_NE(producer, nullptr);
    ASSERT_TRUE(producer->SendEncoded(topic, value).ok());  // no headers, like the original
    ASSERT_TRUE(producer->Flush(std::chrono::seconds(30)).ok());
  }
  RunResult r = Consume(topic, {"-e", "--type", "protobuf.data.Image", "--format", "seed-hex"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  ASSERT_EQ(Lines(r.out).size(), 1u) << Describe(r);
  EXPECT_EQ(Json::parse(Lines(r.out)[0]), Json::parse(R"({"protobuf": "100218032007"})"));

  std::vector<Json> records = ConsumeJson(topic, {"--type", "protobuf.data.Image"});
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0]["encoding"], "seed");  // detected from the content
  Json message = records[0]["message"];
  // Receiving fills offset and partition in (here both 0: an empty envelope in proto3 JSON).
  EXPECT_EQ(message["_message_data"], Json::object());
  message.erase("_message_data");
  EXPECT_EQ(message, Json::parse(R"({"height": 2, "width": 3, "frame": "7"})"));

  // A record mcorps sent: seed-hex is the inflated value of the raw record (hex format).
  RunResult sent = Produce(topic, {"--type", "protobuf.data.Image"}, "{\"frame\": 9}\n");
  ASSERT_EQ(sent.exit_code, 0) << Describe(sent);
  RunResult hex =
      Consume(topic, {"-o", "1", "-e", "--type", "protobuf.data.Image", "--format", "hex"});
  RunResult rest =
      Consume(topic, {"-o", "1", "-e", "--type", "protobuf.data.Image", "--format", "seed-hex"});
  ASSERT_EQ(hex.exit_code, 0) << Describe(hex);
  ASSERT_EQ(rest.exit_code, 0) << Describe(rest);
  ASSERT_EQ(Lines(hex.out).size(), 1u);
  std::string raw = absl::HexStringToBytes(Lines(hex.out)[0]);
  std::string inflated(1 << 16, '\0');
  uLongf inflated_size = inflated.size();
  ASSERT_EQ(uncompress(reinterpret_cast<Bytef*>(inflated.data()), &inflated_size,
                       reinterpret_cast<const Bytef*>(raw.data()), raw.size()),
            Z_OK);
  inflated.resize(inflated_size);
  EXPECT_EQ(Json::parse(Lines(rest.out)[0]),
            Json({{"protobuf", absl::BytesToHexString(inflated)}}));
}

TEST_F(McorpsProduceConsume, MalformedLineStopsWithItsNumber) {
  const std::string topic = NewTopic("mcorps-malformed");
  RunResult r = Produce(topic, {"--type", "protobuf.data.Image"},
                        "{\"frame\": 1}\n{\"frame\": 2}\n{\"frame\": 3,\n{\"frame\": 4}\n");
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("line 3:"));
  EXPECT_THAT(r.err, HasSubstr("sent 2, delivered 2, failed 0"));
  std::vector<Json> records = ConsumeJson(topic);
  ASSERT_EQ(records.size(), 2u);  // nothing after the bad line
  EXPECT_EQ(records[1]["message"]["frame"], "2");
}

TEST_F(McorpsProduceConsume, UnknownFieldIsNamedAndSkipBadGoesOn) {
  const std::string topic = NewTopic("mcorps-unknown-field");
  const std::string input =
      "{\"frame\": 1}\n{\"heigth\": 2}\n{\"height\": \"tall\"}\n{\"frame\": 4}\n";
  RunResult stop = Produce(topic, {"--type", "protobuf.data.Image"}, input);
  EXPECT_EQ(stop.exit_code, 1) << Describe(stop);
  EXPECT_THAT(stop.err, HasSubstr("line 2:"));
  EXPECT_THAT(stop.err, HasSubstr("heigth"));
  RunResult skip = Produce(topic, {"--type", "protobuf.data.Image", "--skip-bad"}, input);
  EXPECT_EQ(skip.exit_code, 0) << Describe(skip);
  EXPECT_THAT(skip.err, HasSubstr("line 2:"));
  EXPECT_THAT(skip.err, HasSubstr("line 3:"));
  EXPECT_THAT(skip.err, HasSubstr("height"));  // the field with the bad value
  EXPECT_THAT(skip.err, HasSubstr("sent 2, delivered 2, failed 0, skipped 2 bad"));
  EXPECT_EQ(ConsumeJson(topic).size(), 3u);  // 1 from the first run, 2 from the second
}

TEST_F(McorpsProduceConsume, OverlongLineIsABadLineAndSkipBadGoesOn) {
  const std::string topic = NewTopic("mcorps-long-line");
  // Line 2 is ~200 KB (longer than one 64 KiB read chunk) against a 100,000-byte limit.
  const std::string long_line = "{\"source\": \"" + std::string(200000, 'a') + "\"}";
  const std::string input = "{\"frame\": 1}\n" + long_line + "\n{\"frame\": 3}\n";
  const std::vector<std::string> args = {"--type", "protobuf.data.Image", "--max-line-bytes",
                                         "100000"};
  RunResult stop = Produce(topic, args, input);
  EXPECT_EQ(stop.exit_code, 1) << Describe(stop);
  EXPECT_THAT(stop.err, HasSubstr("line 2: longer than the limit of 100000 bytes"));
  EXPECT_THAT(stop.err, HasSubstr("sent 1, delivered 1, failed 0"));

  std::vector<std::string> skip_args = args;
  skip_args.push_back("--skip-bad");
  RunResult skip = Produce(topic, skip_args, input);
  EXPECT_EQ(skip.exit_code, 0) << Describe(skip);
  EXPECT_THAT(skip.err, HasSubstr("line 2: longer than the limit"));
  EXPECT_THAT(skip.err, HasSubstr("sent 2, delivered 2, failed 0, skipped 1 bad"));
  std::vector<Json> records = ConsumeJson(topic);
  ASSERT_EQ(records.size(), 3u);  // 1 from the first run, 2 from the second
  EXPECT_EQ(records[2]["message"]["frame"], "3");

  // The default limit (16 MiB) takes the same line.
  RunResult fits = Produce(topic, {"--type", "protobuf.data.Image"}, long_line + "\n");
  EXPECT_EQ(fits.exit_code, 0) << Describe(fits);
  RunResult zero = Produce(topic, {"--type", "protobuf.data.Image", "--max-line-bytes", "0"}, "");
  EXPECT_EQ(zero.exit_code, 2) << Describe(zero);
}

TEST_F(McorpsProduceConsume, UnknownTypeAndMissingTopicAndUnboundTopic) {
  const std::string topic = NewTopic("mcorps-errors");
  RunResult type = Produce(topic, {"--type", "acme.Nope"}, "{}\n");
  EXPECT_EQ(type.exit_code, 1) << Describe(type);
  EXPECT_THAT(type.err, HasSubstr("unknown message type 'acme.Nope'"));

  // Strict: a missing topic is refused (without the flag, mcorps follows the cluster's
  // auto-creation: topic_auto_create_test).
  const std::string absent = UniqueName("mcorps-absent");
  RunResult produce =
      Produce(absent, {"--type", "protobuf.data.Image", "--require-existing-topic"}, "{}\n");
  EXPECT_EQ(produce.exit_code, 1) << Describe(produce);
  EXPECT_THAT(produce.err, HasSubstr("topic " + absent + " does not exist"));
  RunResult consume = Consume(absent, {"-e"});
  EXPECT_EQ(consume.exit_code, 1) << Describe(consume);
  EXPECT_THAT(consume.err, HasSubstr("topic " + absent + " does not exist"));

  RunResult unbound = Produce(topic, {}, "{}\n");  // no --type and no binding for this topic
  EXPECT_EQ(unbound.exit_code, 2) << Describe(unbound);
  EXPECT_THAT(unbound.err, HasSubstr("give --type"));
}

TEST_F(McorpsProduceConsume, UnreachableBrokerFailsFast) {
  RunOptions options;
  options.stdin_data = "{}\n";
  options.timeout = std::chrono::seconds(30);
  RunResult produce =
      RunMcorps({"produce", "-b", "127.0.0.1:1", "-t", "VideoStream", "--timeout", "1"}, options);
  EXPECT_EQ(produce.exit_code, 1) << Describe(produce);
  EXPECT_THAT(produce.err, HasSubstr("cannot reach the brokers 127.0.0.1:1"));
  RunResult consume = RunMcorps(
      {"consume", "-b", "127.0.0.1:1", "-t", "VideoStream", "-e", "--timeout", "1"}, options);
  EXPECT_EQ(consume.exit_code, 1) << Describe(consume);
  EXPECT_THAT(consume.err, HasSubstr("cannot reach the brokers 127.0.0.1:1"));
}

TEST_F(McorpsProduceConsume, StartOffsetsAndCount) {
  const std::string topic = NewTopic("mcorps-offsets", 2);
  const int64_t before = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  RunResult produced = Produce(topic,
                               {"--type", "protobuf.data.Image", "--count", "20", "--template",
                                R"({"frame": "100"})", "--key-field", "frame"},
                               "");
  ASSERT_EQ(produced.exit_code, 0) << Describe(produced);
  EXPECT_THAT(produced.err, HasSubstr("sent 20, delivered 20"));

  std::vector<Json> all = ConsumeJson(topic, {"--type", "protobuf.data.Image"});
  ASSERT_EQ(all.size(), 20u);
  std::set<std::string> frames;
  for (const Json& r : all) frames.insert(r["message"]["frame"].get<std::string>());
  EXPECT_EQ(frames.size(), 20u);  // the template's frame counted up: 100..119
  EXPECT_EQ(*frames.begin(), "100");
  EXPECT_EQ(*frames.rbegin(), "119");

  EXPECT_EQ(ConsumeJson(topic, {"-o", "-3", "--type", "protobuf.data.Image"}).size(),
            6u);  // 3 per partition
  EXPECT_EQ(ConsumeJson(topic, {"-o", "end", "--type", "protobuf.data.Image"}).size(), 0u);
  EXPECT_EQ(ConsumeJson(topic, {"-o", absl::StrCat("@", before - 60000)}).size(), 20u);
  EXPECT_EQ(ConsumeJson(topic, {"-o", absl::StrCat("@", before + 3600000)}).size(), 0u);
  EXPECT_EQ(ConsumeJson(topic, {"-p", "1", "--type", "protobuf.data.Image"}).size() +
                ConsumeJson(topic, {"-p", "0", "--type", "protobuf.data.Image"}).size(),
            20u);
  RunResult counted = Consume(topic, {"-c", "5", "--type", "protobuf.data.Image"});
  EXPECT_EQ(counted.exit_code, 0) << Describe(counted);
  EXPECT_EQ(Lines(counted.out).size(), 5u);
}

TEST_F(McorpsProduceConsume, KeysHeadersAndTraceFilter) {
  const std::string topic = NewTopic("mcorps-keys");
  const std::string trace = "0123456789abcdef0123456789abcdef";
  RunResult fixed = Produce(
      topic,
      {"--type", "protobuf.data.Image", "-k", "cam-1", "-H", "x-site=lab", "-H", "x-site=roof"},
      absl::StrCat(R"({"frame": "1", "_message_data": {"trace_id": ")", trace, "\"}}\n"));
  ASSERT_EQ(fixed.exit_code, 0) << Describe(fixed);
  RunResult by_field = Produce(topic, {"--type", "protobuf.data.Image", "--key-field", "source"},
                               R"({"frame": "2", "source": "cam-2"})"
                               "\n");
  ASSERT_EQ(by_field.exit_code, 0) << Describe(by_field);
  RunResult by_delimiter =
      Produce(topic, {"--type", "protobuf.data.Image", "-K", "|"}, "cam-3|{\"frame\": \"3\"}\n");
  ASSERT_EQ(by_delimiter.exit_code, 0) << Describe(by_delimiter);
  RunResult bad_field =
      Produce(topic, {"--type", "protobuf.data.Image", "--key-field", "nope"}, "{}\n");
  EXPECT_EQ(bad_field.exit_code, 2) << Describe(bad_field);
  EXPECT_THAT(bad_field.err, HasSubstr("has no field 'nope'"));

  std::vector<Json> records = ConsumeJson(topic, {"--type", "protobuf.data.Image"});
  ASSERT_EQ(records.size(), 3u);
  EXPECT_EQ(records[0]["key"], "cam-1");
  EXPECT_EQ(records[0]["headers"]["x-site"], Json::array({"lab", "roof"}));
  EXPECT_EQ(records[0]["message"]["_message_data"]["trace_id"], trace);
  EXPECT_EQ(records[1]["key"], "cam-2");
  EXPECT_EQ(records[2]["key"], "cam-3");

  std::vector<Json> traced =
      ConsumeJson(topic, {"--type", "protobuf.data.Image", "--filter-trace", trace});
  ASSERT_EQ(traced.size(), 1u);
  EXPECT_EQ(traced[0]["message"]["frame"], "1");

  RunResult keyed =
      Consume(topic, {"-e", "--type", "protobuf.data.Image", "--format", "text", "-K", "\t"});
  ASSERT_EQ(keyed.exit_code, 0) << Describe(keyed);
  EXPECT_THAT(keyed.out, HasSubstr("@2 cam-3\tprotobuf.data.Image\nframe: 3\n"));
}

// --header-mode: which standard headers the records carry; a bad mode is a usage error.
TEST_F(McorpsProduceConsume, HeaderModes) {
  const std::string topic = NewTopic("mcorps-header-mode");
  for (const char* mode : {"standard", "compact", "none", "traceparent"}) {
    RunResult r = Produce(topic, {"--type", "protobuf.data.Image", "--header-mode", mode},
                          "{\"frame\": \"1\"}\n");
    ASSERT_EQ(r.exit_code, 0) << mode << ": " << Describe(r);
  }
  RunResult bad =
      Produce(topic, {"--type", "protobuf.data.Image", "--header-mode", "some"}, "{}\n");
  EXPECT_EQ(bad.exit_code, 2) << Describe(bad);
  EXPECT_THAT(bad.err, HasSubstr("--header-mode"));

  std::vector<Json> records = ConsumeJson(topic, {"--type", "protobuf.data.Image"});
  ASSERT_EQ(records.size(), 4u);
  EXPECT_TRUE(records[0]["headers"].contains("ce_specversion"));
  EXPECT_TRUE(records[0]["headers"].contains("content-type"));
  EXPECT_FALSE(records[1]["headers"].contains("ce_specversion"));
  EXPECT_EQ(records[1]["headers"].size(), 3u) << records[1]["headers"].dump();
  EXPECT_TRUE(records[1]["headers"].contains("traceparent"));
  EXPECT_TRUE(!records[2].contains("headers") || records[2]["headers"].empty())
      << records[2].dump();
  EXPECT_EQ(records[3]["headers"].size(), 1u) << records[3]["headers"].dump();
  EXPECT_TRUE(records[3]["headers"].contains("traceparent"));
  for (const Json& record : records) EXPECT_EQ(record["type"], "protobuf.data.Image");
  for (const Json& r : records) EXPECT_EQ(r["message"]["frame"], "1") << r.dump();
}

}  // namespace
}  // namespace mcorps::testing
