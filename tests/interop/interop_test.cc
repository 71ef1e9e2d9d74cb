// Interop with the Python original and with Confluent's Python clients, both ways, on the real
// broker (label `interop`). The Python side is tests/interop/original_peer.py on the project venv
// (tests/interop/python: a missing venv or module is a failure, never a skip). Each peer prints one
// JSON line per message with every field; these tests compare them field by field with what
// messagecorps sent or received.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "messagecorps/codec.h"
#include "messagecorps/router.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/type_registry.h"
#include "support/kafka_test_env.h"
#include "unit/mcorps_subprocess.h"

namespace messagecorps {
namespace {

namespace pb = google::protobuf;
using namespace std::chrono_literals;
using json = nlohmann::json;
using mcorps::testing::Describe;
using mcorps::testing::Lines;
using mcorps::testing::RunMcorps;
using mcorps::testing::RunOptions;
using mcorps::testing::RunProgram;
using mcorps::testing::RunResult;
using protobuf::data::Image;
using protobuf::predictions::Prediction;
using testing::CreateTopicOrFail;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::TestBrokers;
using testing::UniqueName;

constexpr int kLargeImage = 900 * 1024;  // the issue's "large (900 KiB) image"
const std::string kSizes = "16,0," + std::to_string(kLargeImage);

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

uint32_t Crc32(std::string_view bytes) {
  return static_cast<uint32_t>(
      crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

// One JSON object per stdout line.
std::vector<json> JsonLines(const std::string& out) {
  std::vector<json> lines;
  for (const std::string& line : Lines(out)) lines.push_back(json::parse(line));
  return lines;
}

class Interop : public ::testing::Test {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    ASSERT_FALSE(brokers_.empty());
    ASSERT_FALSE(Env("MCORPS_INTEROP_PYTHON").empty()) << "run through ctest (CMake sets it)";
    ASSERT_TRUE(registry_.AddDescriptorSetFile(MCORPS_ACME_DESCRIPTOR_SET).ok());
  }

  // Runs original_peer.py COMMAND --brokers B ARGS; fails the test on a non-zero exit.
  RunResult Peer(const std::string& command, std::vector<std::string> args,
                 RunOptions options = {}) {
    std::vector<std::string> all = {Env("MCORPS_INTEROP_PEER"), command,     "--proto-dir",
                                    Env("MCORPS_INTEROP_PY"),   "--brokers", brokers_};
    all.insert(all.end(), args.begin(), args.end());
    if (options.timeout == 60000ms) options.timeout = 180s;  // venv check + a slow machine
    RunResult r = RunProgram(Env("MCORPS_INTEROP_PYTHON"), all, options);
    EXPECT_EQ(r.exit_code, 0) << "original_peer.py " << command << ": " << Describe(r);
    return r;
  }

  // The records of `topic` decoded through a Consumer with registry_ (topic bound by the caller).
  std::vector<ReceivedMessage> Consume(const std::string& topic, size_t want) {
    ConsumerConfig config;
    config.registry = &registry_;
    config.limits.max_record_bytes = 4u << 20;
    config.properties["fetch.message.max.bytes"] = std::to_string(4 << 20);
    auto consumer = MakeConsumer(brokers_, {topic}, UniqueName("interop-cpp"), config);
    EXPECT_NE(consumer, nullptr);
    if (consumer == nullptr) return {};
    return PollUntil(*consumer, want, 90s);
  }

  std::string brokers_;
  TypeRegistry registry_ = TypeRegistry::WithSeedDefaults();
};

// The envelope a Python peer printed against the one we decoded (offset/partition separately).
void ExpectEnvelope(const json& sent, const protobuf::common::messageData& md) {
  const json& e = sent["envelope"];
  EXPECT_EQ(md.uuid(), e["uuid"]);
  EXPECT_EQ(md.iso_date(), e["iso_date"]);
  EXPECT_EQ(md.trace_id(), e["trace_id"]);
  EXPECT_EQ(md.sending_service(), e["sending_service"]);
  EXPECT_EQ(static_cast<int>(md.environment()), e["environment"].get<int>());
  EXPECT_EQ(md.timestamp(), e["timestamp"].get<double>());
}

void ExpectImage(const json& sent, const Image& image) {
  EXPECT_EQ(image.frame(), sent["frame"].get<int64_t>());
  EXPECT_EQ(image.width(), sent["width"].get<int>());
  EXPECT_EQ(image.height(), sent["height"].get<int>());
  EXPECT_EQ(image.image_data().size(), sent["image_size"].get<size_t>());
  EXPECT_EQ(Crc32(image.image_data()), sent["image_crc32"].get<uint32_t>());
  ExpectEnvelope(sent, image._message_data());
}

void ExpectPrediction(const json& sent, const Prediction& p) {
  EXPECT_EQ(p.frame(), sent["frame"].get<int64_t>());
  std::vector<std::string> objects(p.object().begin(), p.object().end());
  EXPECT_EQ(objects, sent["object"].get<std::vector<std::string>>());
  ExpectEnvelope(sent, p._message_data());
}

// ---- the original's sender -> messagecorps --------------------------------------------------

TEST_F(Interop, OriginalSenderToConsumerEveryFieldOffsetAndPartition) {
  const std::string images = UniqueName("interop-images");
  const std::string preds = UniqueName("interop-preds");
  CreateTopicOrFail(brokers_, images, 3);
  CreateTopicOrFail(brokers_, preds, 2);
  ASSERT_TRUE(registry_.Bind(images, Image::descriptor()).ok());
  ASSERT_TRUE(registry_.Bind(preds, Prediction::descriptor()).ok());

  RunOptions env;
  env.env = {{"ENVIRONMENT", "STAGING"}, {"LOG_TAG_SERVICE", "webcam"}};
  const auto sent_images = JsonLines(
      Peer("send", {"--topic", images, "--type", "image", "--count", "6", "--sizes", kSizes}, env)
          .out);
  const auto sent_preds =
      JsonLines(Peer("send", {"--topic", preds, "--type", "prediction", "--count", "4"}).out);
  ASSERT_EQ(sent_images.size(), 6u);
  ASSERT_EQ(sent_preds.size(), 4u);

  auto got = Consume(images, 6);
  ASSERT_EQ(got.size(), 6u);
  std::set<int32_t> partitions;
  for (const ReceivedMessage& m : got) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    const Image* image = m.As<Image>();
    ASSERT_NE(image, nullptr);
    SCOPED_TRACE("frame " + std::to_string(image->frame()));
    ExpectImage(sent_images.at(static_cast<size_t>(image->frame())), *image);
    EXPECT_EQ(image->_message_data().environment(), protobuf::common::STAGING);
    EXPECT_EQ(image->_message_data().sending_service(), "webcam");
    // Filled on receive from the record, as the original did.
    EXPECT_EQ(image->_message_data().offset(), m.offset());
    EXPECT_EQ(image->_message_data().partition(), m.partition());
    EXPECT_EQ(m.encoding(), Encoding::kSeed) << "a header-less zlib record is seed";
    EXPECT_TRUE(m.headers().empty()) << "the original sends no headers";
    // The trace comes from _message_data (no traceparent on these records).
    EXPECT_EQ(m.trace().trace_id(), image->_message_data().trace_id());
    partitions.insert(m.partition());
  }
  // Sizes used in turn: 16 B, empty, 900 KiB (twice each).
  EXPECT_EQ(got.size(), 6u);

  auto got_preds = Consume(preds, 4);
  ASSERT_EQ(got_preds.size(), 4u);
  for (const ReceivedMessage& m : got_preds) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    const Prediction* p = m.As<Prediction>();
    ASSERT_NE(p, nullptr);
    ExpectPrediction(sent_preds.at(static_cast<size_t>(p->frame())), *p);
    EXPECT_EQ(p->_message_data().environment(), protobuf::common::DEVELOPMENT);
    EXPECT_EQ(p->_message_data().sending_service(), "NOTSET");
    EXPECT_EQ(p->_message_data().offset(), m.offset());
    EXPECT_EQ(p->_message_data().partition(), m.partition());
  }
}

TEST_F(Interop, OriginalSenderToRouter) {
  const std::string images = UniqueName("interop-router");
  CreateTopicOrFail(brokers_, images, 2);
  const auto sent = JsonLines(
      Peer("send", {"--topic", images, "--type", "image", "--count", "6", "--sizes", kSizes}).out);
  ASSERT_EQ(sent.size(), 6u);

  RouterConfig config;
  config.client.brokers = brokers_;
  config.consumer.group_id = UniqueName("interop-router");
  config.consumer.start = StartOffset::kEarliest;
  config.consumer.limits.max_record_bytes = 4u << 20;
  config.consumer_properties["session.timeout.ms"] = "6000";
  config.poll_timeout = 50ms;
  Router router(config);
  std::mutex mu;
  std::vector<std::pair<Image, std::pair<int64_t, int32_t>>> handled;
  ASSERT_TRUE(router
                  .Handle("display", Topic<Image>(images),
                          [&](const Image& image, const ReceivedMessage& m) -> HandlerResult {
                            std::lock_guard lock(mu);
                            handled.push_back({image, {m.offset(), m.partition()}});
                            return std::vector<Outgoing>{};
                          })
                  .ok());
  absl::Status status;
  std::jthread thread([&](std::stop_token stop) { status = router.Run(stop); });
  // Bound: a group join plus 6 records; generous for a loaded 2-core machine.
  const auto deadline = std::chrono::steady_clock::now() + 90s;
  while (router.Stats().handled < 6 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(50ms);
  }
  router.Stop();
  thread.join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(router.Stats().dead_lettered, 0u);
  std::lock_guard lock(mu);
  ASSERT_EQ(handled.size(), 6u);
  for (const auto& [image, where] : handled) {
    SCOPED_TRACE("frame " + std::to_string(image.frame()));
    ExpectImage(sent.at(static_cast<size_t>(image.frame())), image);
    EXPECT_EQ(image._message_data().offset(), where.first);
    EXPECT_EQ(image._message_data().partition(), where.second);
  }
}

TEST_F(Interop, OriginalSenderToMcorpsConsume) {
  const std::string images = UniqueName("interop-mcorps");
  CreateTopicOrFail(brokers_, images, 2);
  const auto sent = JsonLines(
      Peer("send", {"--topic", images, "--type", "image", "--count", "6", "--sizes", kSizes}).out);
  ASSERT_EQ(sent.size(), 6u);
  RunResult r = RunMcorps({"consume", "-b", brokers_, "-t", images, "--type", "protobuf.data.Image",
                           "-e", "-X", "fetch.message.max.bytes=4194304"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto lines = JsonLines(r.out);
  ASSERT_EQ(lines.size(), 6u) << Describe(r);
  for (const json& line : lines) {
    const json& msg = line["message"];
    const int64_t frame = std::stoll(msg.value("frame", std::string("0")));
    SCOPED_TRACE("frame " + std::to_string(frame));
    const json& want = sent.at(static_cast<size_t>(frame));
    std::string data;
    ASSERT_TRUE(absl::Base64Unescape(msg.value("image_data", std::string()), &data));
    EXPECT_EQ(data.size(), want["image_size"].get<size_t>());
    EXPECT_EQ(Crc32(data), want["image_crc32"].get<uint32_t>());
    EXPECT_EQ(msg["width"], want["width"]);
    EXPECT_EQ(msg["height"], want["height"]);
    const json& md = msg["_message_data"];
    EXPECT_EQ(md["uuid"], want["envelope"]["uuid"]);
    EXPECT_EQ(md["iso_date"], want["envelope"]["iso_date"]);
    EXPECT_EQ(md["trace_id"], want["envelope"]["trace_id"]);
    EXPECT_EQ(md["sending_service"], want["envelope"]["sending_service"]);
    EXPECT_EQ(md["environment"], "DEVELOPMENT");
    // Offset and partition: the record's, in the envelope (int64 as JSON strings, 0 omitted).
    EXPECT_EQ(std::stoll(md.value("offset", std::string("0"))), line["offset"].get<int64_t>());
    EXPECT_EQ(std::stoll(md.value("partition", std::string("0"))),
              line["partition"].get<int64_t>());
    EXPECT_EQ(line["encoding"], "seed");
  }
}

// ---- messagecorps -> the original's receiver ------------------------------------------------

TEST_F(Interop, ProducerToOriginalReceiver) {
  const std::string images = UniqueName("interop-out-images");
  CreateTopicOrFail(brokers_, images, 3);
  ProducerConfig pc;
  pc.properties["message.max.bytes"] = std::to_string(4 << 20);
  auto producer = MakeProducer(brokers_, pc);
  ASSERT_NE(producer, nullptr);
  Topic<Image> topic(images);                                    // seed encoding, the default
  std::map<std::string, std::pair<Image, DeliveryReport>> sent;  // by uuid
  for (int i = 0; i < 6; ++i) {
    Image image;
    image.set_frame(i);
    image.set_width(640);
    image.set_height(480);
    const int size = std::array{16, 0, kLargeImage}[i % 3];
    std::string data(static_cast<size_t>(size), '\0');
    for (int j = 0; j < size; ++j)
      data[static_cast<size_t>(j)] = static_cast<char>((j * 7 + i) % 251);
    image.set_image_data(data);
    auto report = producer->SendSync(topic, image);
    ASSERT_TRUE(report.ok()) << report.status();
    ASSERT_TRUE(report->status.ok()) << report->status;
    sent[image._message_data().uuid()] = {image, *report};
  }
  const auto got = JsonLines(Peer("receive", {"--topic", images, "--type", "image", "--count", "6",
                                              "--group", UniqueName("interop-py")})
                                 .out);
  ASSERT_EQ(got.size(), 6u);
  for (const json& g : got) {
    const std::string uuid = g["envelope"]["uuid"];
    ASSERT_EQ(sent.count(uuid), 1u) << "a record we never sent: " << g.dump();
    const auto& [image, report] = sent.at(uuid);
    SCOPED_TRACE("frame " + std::to_string(image.frame()));
    EXPECT_EQ(g["frame"].get<int64_t>(), image.frame());
    EXPECT_EQ(g["width"].get<int>(), 640);
    EXPECT_EQ(g["height"].get<int>(), 480);
    EXPECT_EQ(g["image_size"].get<size_t>(), image.image_data().size());
    EXPECT_EQ(g["image_crc32"].get<uint32_t>(), Crc32(image.image_data()));
    const auto& md = image._message_data();
    EXPECT_EQ(g["envelope"]["iso_date"], md.iso_date());
    EXPECT_EQ(g["envelope"]["trace_id"], md.trace_id());
    EXPECT_EQ(g["envelope"]["sending_service"], "test");
    EXPECT_EQ(g["envelope"]["timestamp"].get<double>(), md.timestamp());
    EXPECT_GT(md.timestamp(), 0) << "we fill the timestamp the original left 0";
    // The original's receiver fills offset and partition from the record.
    EXPECT_EQ(g["envelope"]["offset"].get<int64_t>(), report.offset);
    EXPECT_EQ(g["envelope"]["partition"].get<int64_t>(), report.partition);
  }
}

TEST_F(Interop, McorpsProduceToOriginalReceiver) {
  const std::string preds = UniqueName("interop-out-preds");
  CreateTopicOrFail(brokers_, preds, 2);
  RunOptions input;
  input.stdin_data =
      "{\"object\":[\"person\",\"cat\"],\"frame\":\"0\"}\n"
      "{\"object\":[],\"frame\":\"1\"}\n"
      "{\"object\":[\"caf\\u00e9\"],\"frame\":\"2\",\"_message_data\":{\"trace_id\":"
      "\"4bf92f3577b34da6a3ce929d0e0e4736\"}}\n";
  input.env = {{"LOG_TAG_SERVICE", "cli"}, {"ENVIRONMENT", "PRODUCTION"}};
  RunResult r = RunMcorps(
      {"produce", "-b", brokers_, "-t", preds, "--type", "protobuf.predictions.Prediction"}, input);
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const auto got = JsonLines(Peer("receive", {"--topic", preds, "--type", "prediction", "--count",
                                              "3", "--group", UniqueName("interop-py")})
                                 .out);
  ASSERT_EQ(got.size(), 3u);
  const std::vector<std::vector<std::string>> objects = {{"person", "cat"}, {}, {"caf\xc3\xa9"}};
  std::set<std::pair<int64_t, int64_t>> positions;
  for (const json& g : got) {
    const int64_t frame = g["frame"];
    ASSERT_GE(frame, 0);
    ASSERT_LT(frame, 3);
    EXPECT_EQ(g["object"].get<std::vector<std::string>>(), objects[static_cast<size_t>(frame)]);
    EXPECT_EQ(g["envelope"]["sending_service"], "cli");
    EXPECT_EQ(g["envelope"]["environment"].get<int>(), protobuf::common::PRODUCTION);
    EXPECT_EQ(g["envelope"]["uuid"].get<std::string>().size(), 36u);
    EXPECT_EQ(g["envelope"]["trace_id"].get<std::string>().size(), 32u);
    if (frame == 2) {
      EXPECT_EQ(g["envelope"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    }
    // Encoded as the original expects: the value is plain zlib (its envelope's `type`, field 11,
    // is skipped by the original's parser), and our default header is there: traceparent only.
    ASSERT_EQ(g["headers"].size(), 1u) << g["headers"].dump();
    EXPECT_EQ(g["headers"][0][0], "traceparent");
    // (The peer prints header values as hex.)
    EXPECT_EQ(absl::HexStringToBytes(g["headers"][0][1].get<std::string>()).substr(3, 32),
              g["envelope"]["trace_id"]);
    positions.insert(
        {g["envelope"]["partition"].get<int64_t>(), g["envelope"]["offset"].get<int64_t>()});
  }
  EXPECT_EQ(positions.size(), 3u) << "offset/partition filled per record";
}

// ---- Confluent's clients <-> our Confluent codec ------------------------------------------

TEST_F(Interop, ConfluentSerializerToConsumer) {
  const std::string images = UniqueName("interop-cf-images");
  const std::string preds = UniqueName("interop-cf-preds");
  const std::string batches = UniqueName("interop-cf-batch");
  for (const auto& t : {images, preds, batches}) CreateTopicOrFail(brokers_, t, 1);
  TopicOptions confluent;
  confluent.encoding = Encoding::kConfluent;
  ASSERT_TRUE(registry_.Bind(images, Image::descriptor(), confluent).ok());
  ASSERT_TRUE(registry_.Bind(preds, Prediction::descriptor(), confluent).ok());
  ASSERT_TRUE(registry_.Bind(batches, "acme.SensorBatch", confluent).ok());

  const auto sent_images =
      JsonLines(Peer("confluent-produce",
                     {"--topic", images, "--type", "image", "--count", "3", "--sizes", kSizes})
                    .out);
  const auto sent_preds = JsonLines(
      Peer("confluent-produce", {"--topic", preds, "--type", "prediction", "--count", "2"}).out);
  const auto sent_batches = JsonLines(
      Peer("confluent-produce", {"--topic", batches, "--type", "batch", "--count", "2"}).out);
  ASSERT_EQ(sent_images.size(), 3u);
  ASSERT_EQ(sent_preds.size(), 2u);
  ASSERT_EQ(sent_batches.size(), 2u);

  for (const ReceivedMessage& m : Consume(images, 3)) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    EXPECT_EQ(m.encoding(), Encoding::kConfluent);
    const Image* image = m.As<Image>();
    ASSERT_NE(image, nullptr);
    ExpectImage(sent_images.at(static_cast<size_t>(image->frame())), *image);
  }
  auto got_preds = Consume(preds, 2);
  ASSERT_EQ(got_preds.size(), 2u);
  for (const ReceivedMessage& m : got_preds) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    // Prediction is the third message of its file: Confluent wrote message indexes [2].
    auto frame = ParseConfluentFrame(m.value());
    ASSERT_TRUE(frame.ok()) << frame.status();
    EXPECT_EQ(frame->message_indexes, std::vector<int32_t>{2});
    const Prediction* p = m.As<Prediction>();
    ASSERT_NE(p, nullptr);
    ExpectPrediction(sent_preds.at(static_cast<size_t>(p->frame())), *p);
  }
  auto got_batches = Consume(batches, 2);
  ASSERT_EQ(got_batches.size(), 2u);
  for (const ReceivedMessage& m : got_batches) {
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    auto frame = ParseConfluentFrame(m.value());
    ASSERT_TRUE(frame.ok());
    EXPECT_EQ(frame->message_indexes, std::vector<int32_t>{1});  // second in acme/sensor.proto
    ASSERT_NE(m.message(), nullptr);
    EXPECT_EQ(m.message()->GetDescriptor()->full_name(), "acme.SensorBatch");
    std::string text;
    pb::util::JsonPrintOptions po;
    po.preserve_proto_field_names = true;
    po.always_print_enums_as_ints = true;
    ASSERT_TRUE(pb::util::MessageToJsonString(*m.message(), &text, po).ok());
    const json got = json::parse(text);
    ASSERT_EQ(got["readings"].size(), 1u);
    const std::string id = got["readings"][0]["sensor_id"];
    const size_t i = std::stoul(id.substr(2));
    const json& want = sent_batches.at(i)["readings"][0];
    EXPECT_EQ(got["readings"][0]["sensor_id"], want["sensor_id"]);
    EXPECT_EQ(got["readings"][0]["value"].get<double>(), want["value"].get<double>());
    EXPECT_EQ(got["readings"][0]["unit"], want["unit"]);
    EXPECT_EQ(got["readings"][0]["samples"], want["samples"]);
  }
}

TEST_F(Interop, ProducerConfluentToConfluentDeserializer) {
  const std::string preds = UniqueName("interop-cf-out-preds");
  const std::string batches = UniqueName("interop-cf-out-batch");
  CreateTopicOrFail(brokers_, preds, 1);
  CreateTopicOrFail(brokers_, batches, 1);
  auto producer = MakeProducer(brokers_);
  ASSERT_NE(producer, nullptr);
  // No message indexes configured: the encoder derives [2] from the type, as Confluent does.
  TopicOptions options;
  options.encoding = Encoding::kConfluent;
  options.schema_id = 7;
  Topic<Prediction> topic(preds, options);
  std::map<int64_t, Prediction> sent;
  for (int i = 0; i < 3; ++i) {
    Prediction p;
    p.set_frame(i);
    p.add_object("obj " + std::to_string(i));
    ASSERT_TRUE(producer->SendSync(topic, p).ok());
    sent[i] = p;
  }
  const auto got =
      JsonLines(Peer("confluent-consume", {"--topic", preds, "--type", "prediction", "--count", "3",
                                           "--group", UniqueName("interop-cf")})
                    .out);
  ASSERT_EQ(got.size(), 3u);
  for (const json& g : got) {
    const Prediction& p = sent.at(g["frame"].get<int64_t>());
    // magic 0, schema id 7, indexes [2] as zigzag varints: count 1 -> 02, index 2 -> 04.
    EXPECT_EQ(g["value_prefix_hex"].get<std::string>().substr(0, 14), "00000000070204");
    EXPECT_EQ(g["object"].get<std::vector<std::string>>(),
              std::vector<std::string>(p.object().begin(), p.object().end()));
    EXPECT_EQ(g["envelope"]["uuid"], p._message_data().uuid());
    EXPECT_EQ(g["envelope"]["trace_id"], p._message_data().trace_id());
  }

  // A dynamic (descriptor-set) type, second in its file: indexes [1].
  const pb::Descriptor* type = registry_.FindType("acme.SensorBatch");
  ASSERT_NE(type, nullptr);
  auto batch = registry_.NewMessage(type);
  ASSERT_TRUE(
      pb::util::JsonStringToMessage(
          R"({"readings":[{"sensor_id":"s-0","value":0.5,"unit":"PASCAL","samples":[0,0,7]}]})",
          batch.get())
          .ok());
  EncodeOptions encode;
  encode.encoding = Encoding::kConfluent;
  encode.schema_id = 9;
  auto report = producer->SendMessageSync(batches, *batch, encode, {}, 30s);
  ASSERT_TRUE(report.ok() && report->status.ok());
  const auto got_batch =
      JsonLines(Peer("confluent-consume", {"--topic", batches, "--type", "batch", "--count", "1",
                                           "--group", UniqueName("interop-cf")})
                    .out);
  ASSERT_EQ(got_batch.size(), 1u);
  EXPECT_EQ(got_batch[0]["value_prefix_hex"].get<std::string>().substr(0, 14), "00000000090202");
  EXPECT_EQ(got_batch[0]["readings"][0]["sensor_id"], "s-0");
  EXPECT_EQ(got_batch[0]["readings"][0]["unit"].get<int>(), 2);
  EXPECT_EQ(got_batch[0]["readings"][0]["samples"], json::array({0, 0, 7}));
}

// ---- the original's REST form <-> mcorps and the codec ---------------------------------------

TEST_F(Interop, RestHexFormBothWays) {
  // Python -> us: the original's {"protobuf": "<hex>"} loads into the type.
  RunResult rest = Peer("rest", {"--type", "image", "--count", "3", "--sizes", "16,0,1000"});
  const auto rest_lines = Lines(rest.out);
  // stderr: the peer's JSON lines, possibly after scripts/python-venv's progress lines.
  std::string json_err;
  for (const std::string& line : Lines(rest.err)) {
    if (!line.empty() && line.front() == '{') json_err += line + "\n";
  }
  const auto described = JsonLines(json_err);
  ASSERT_EQ(rest_lines.size(), 3u);
  ASSERT_EQ(described.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    auto bytes = FromSeedRestJson(rest_lines[i]);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    Image image;
    ASSERT_TRUE(image.ParseFromString(*bytes));
    ExpectImage(described[i], image);
  }

  // us -> Python: `mcorps consume --format seed-hex` of records our producer wrote.
  const std::string images = UniqueName("interop-rest");
  CreateTopicOrFail(brokers_, images, 1);
  auto producer = MakeProducer(brokers_);
  ASSERT_NE(producer, nullptr);
  std::vector<Image> sent;
  for (int i = 0; i < 3; ++i) {
    Image image;
    image.set_frame(i);
    image.set_image_data(std::string(static_cast<size_t>(i * 10), static_cast<char>('a' + i)));
    ASSERT_TRUE(producer->SendSync(Topic<Image>(images), image).ok());
    sent.push_back(image);
  }
  RunResult hex = RunMcorps({"consume", "-b", brokers_, "-t", images, "--type",
                             "protobuf.data.Image", "-e", "--format", "seed-hex"});
  ASSERT_EQ(hex.exit_code, 0) << Describe(hex);
  ASSERT_EQ(Lines(hex.out).size(), 3u) << Describe(hex);
  RunOptions in;
  in.stdin_data = hex.out;
  const auto loaded = JsonLines(Peer("from-rest", {"--type", "image"}, in).out);
  ASSERT_EQ(loaded.size(), 3u);
  for (const json& g : loaded) {
    const Image& image = sent.at(g["frame"].get<size_t>());
    EXPECT_EQ(g["image_size"].get<size_t>(), image.image_data().size());
    EXPECT_EQ(g["image_crc32"].get<uint32_t>(), Crc32(image.image_data()));
    EXPECT_EQ(g["envelope"]["uuid"], image._message_data().uuid());
    EXPECT_EQ(g["envelope"]["trace_id"], image._message_data().trace_id());
    EXPECT_EQ(g["envelope"]["iso_date"], image._message_data().iso_date());
  }
}

// ---- one consumer group: a Python service of the original and a C++ service --------------

// The processed-record lines and the last assignment the Python member logged.
struct PythonLog {
  std::vector<json> processed;
  std::vector<int> assigned;
  bool left = false;
};

PythonLog ReadPythonLog(const std::string& path) {
  PythonLog log;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.back() != '}') continue;  // a line still being written
    const json j = json::parse(line);
    if (j.contains("frame")) log.processed.push_back(j);
    if (j.contains("assigned")) log.assigned = j["assigned"].get<std::vector<int>>();
    if (j.contains("revoked")) log.assigned.clear();
    if (j.contains("left")) log.left = true;
  }
  return log;
}

TEST_F(Interop, OneGroupPythonAndCppEachRecordOnceAndRebalanceWhenOneLeaves) {
  constexpr int kPartitions = 4, kPerPhase = 40;
  const std::string topic = UniqueName("interop-group");
  const std::string group = UniqueName("interop-group");
  CreateTopicOrFail(brokers_, topic, kPartitions);
  const std::filesystem::path dir =
      std::filesystem::path(Env("MESSAGECORPS_BINARY_DIR")) / "interop-group" / group;
  std::filesystem::create_directories(dir);
  const std::string log_path = (dir / "python.log").string();
  const std::string stop_path = (dir / "stop").string();

  // The Python member runs until the stop file appears (then commits, closes, leaves).
  RunOptions long_run;
  long_run.timeout = 300s;  // the peer's own --timeout (240 s) comes first
  std::thread python([&] {
    Peer("group",
         {"--topic", topic, "--type", "image", "--group", group, "--log", log_path, "--stop-file",
          stop_path, "--timeout", "240"},
         long_run);
  });
  struct StopPython {
    std::string path;
    std::thread& thread;
    ~StopPython() {
      std::ofstream(path).put('\n');
      if (thread.joinable()) thread.join();
    }
  } stop_python{stop_path, python};

  ASSERT_TRUE(registry_.Bind(topic, Image::descriptor()).ok());
  ConsumerConfig config;
  config.registry = &registry_;
  config.properties["heartbeat.interval.ms"] = "500";
  // kafka-python offers range and roundrobin only; with librdkafka 2.10+ our default is
  // cooperative-sticky (DefaultAssignmentStrategy), which a mixed group cannot agree on. What
  // docs/migrating-from-python.md tells users to set.
  config.properties["partition.assignment.strategy"] = "range";
  auto consumer = MakeConsumer(brokers_, {topic}, group, config);
  ASSERT_NE(consumer, nullptr);
  std::vector<std::pair<int64_t, int32_t>> cpp_processed;  // frame, partition
  auto poll = [&] {
    auto batch = consumer->Poll(100ms);
    ASSERT_TRUE(batch.ok()) << batch.status();
    for (const ReceivedMessage& m : *batch) {
      ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
      cpp_processed.push_back({m.As<Image>()->frame(), m.partition()});
    }
  };
  // Polls (so the C++ member takes part in rebalances) until `done` or the bound.
  auto poll_until = [&](const std::function<bool()>& done, std::chrono::seconds bound,
                        const std::string& what) {
    const auto deadline = std::chrono::steady_clock::now() + bound;
    while (!done()) {
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out waiting: " << what;
      poll();
      if (HasFatalFailure()) return;
    }
  };

  // Both members hold partitions, together all of them. Bound: two joins and a rebalance on a
  // loaded machine (a join takes ~3 s idle).
  ASSERT_NO_FATAL_FAILURE(poll_until(
      [&] {
        const auto py = ReadPythonLog(log_path).assigned;
        const auto cpp = consumer->Assignment();
        return !py.empty() && !cpp.empty() && py.size() + cpp.size() == kPartitions;
      },
      120s, "both members assigned"));
  const std::vector<int> python_partitions = ReadPythonLog(log_path).assigned;

  auto producer = MakeProducer(brokers_);
  ASSERT_NE(producer, nullptr);
  auto send = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      Image image;
      image.set_frame(i);
      SendOptions options;
      options.partition = i % kPartitions;  // every partition, so both members get records
      ASSERT_TRUE(producer->Send(Topic<Image>(topic), image, options).ok());
    }
    ASSERT_TRUE(producer->Flush(30s).ok());
  };
  send(0, kPerPhase);
  ASSERT_NO_FATAL_FAILURE(poll_until(
      [&] {
        return cpp_processed.size() + ReadPythonLog(log_path).processed.size() >=
               static_cast<size_t>(kPerPhase);
      },
      90s, "phase 1 processed"));

  // The Python member leaves; the C++ member takes its partitions over.
  std::ofstream(stop_path).put('\n');
  ASSERT_NO_FATAL_FAILURE(
      poll_until([&] { return ReadPythonLog(log_path).left; }, 60s, "the Python member leaving"));
  ASSERT_NO_FATAL_FAILURE(poll_until([&] { return consumer->Assignment().size() == kPartitions; },
                                     90s, "the C++ member owning every partition"));
  send(kPerPhase, 2 * kPerPhase);
  ASSERT_NO_FATAL_FAILURE(poll_until(
      [&] {
        return cpp_processed.size() + ReadPythonLog(log_path).processed.size() >=
               static_cast<size_t>(2 * kPerPhase);
      },
      90s, "phase 2 processed"));
  // A little longer, so that a duplicate would show up.
  const auto settle = std::chrono::steady_clock::now() + 2s;
  while (std::chrono::steady_clock::now() < settle) poll();
  python.join();

  const PythonLog py = ReadPythonLog(log_path);
  std::map<int64_t, int> times;
  int python_phase1 = 0, cpp_phase1 = 0;
  for (const json& j : py.processed) {
    ++times[j["frame"].get<int64_t>()];
    if (j["frame"].get<int64_t>() < kPerPhase) ++python_phase1;
  }
  std::set<int32_t> cpp_phase2_partitions;
  for (const auto& [frame, partition] : cpp_processed) {
    ++times[frame];
    if (frame < kPerPhase) ++cpp_phase1;
    if (frame >= kPerPhase) cpp_phase2_partitions.insert(partition);
  }
  for (int i = 0; i < 2 * kPerPhase; ++i) {
    EXPECT_EQ(times[i], 1) << "frame " << i << " processed " << times[i] << " times";
  }
  EXPECT_EQ(times.size(), static_cast<size_t>(2 * kPerPhase));
  EXPECT_GT(python_phase1, 0) << "the Python member processed nothing";
  EXPECT_GT(cpp_phase1, 0) << "the C++ member processed nothing";
  EXPECT_EQ(python_phase1 + cpp_phase1, kPerPhase);
  // After the rebalance the C++ member read the partitions the Python member had.
  for (int p : python_partitions) {
    EXPECT_EQ(cpp_phase2_partitions.count(p), 1u) << "partition " << p << " not taken over";
  }
  std::cout << "group: python processed " << python_phase1 << ", c++ " << cpp_phase1
            << " of phase 1; python held partitions " << json(python_partitions).dump() << "\n";
}

}  // namespace
}  // namespace messagecorps
