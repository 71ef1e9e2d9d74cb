// The topic -> type registry: seed defaults, bindings from code and config text (errors carry the
// line number), types from a descriptor set built at test build time (acme.desc, from
// tests/data/proto/acme/sensor.proto, a schema the library is not compiled with).
#include "messagecorps/type_registry.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "messagecorps/codec.h"
#include "messagecorps/seed_topics.h"
#include "protobuf/common/MessageData.pb.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

#ifndef MCORPS_ACME_DESCRIPTOR_SET
#error "tests/unit/CMakeLists.txt defines MCORPS_ACME_DESCRIPTOR_SET (path of acme.desc)"
#endif

namespace messagecorps {
namespace {

namespace pb = google::protobuf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr const char* kAcmeDesc = MCORPS_ACME_DESCRIPTOR_SET;

std::vector<std::string> Topics(const TypeRegistry& r) {
  std::vector<std::string> out;
  for (const TopicBinding* b : r.Bindings()) out.push_back(b->topic);
  return out;
}

pb::FileDescriptorSet ReadAcmeSet() {
  std::ifstream in(kAcmeDesc, std::ios::binary);
  pb::FileDescriptorSet set;
  EXPECT_TRUE(set.ParseFromIstream(&in)) << kAcmeDesc;
  return set;
}

// A file in the test's temporary directory, removed at the end of the test.
class TempFile {
 public:
  TempFile(const std::string& name, const std::string& content)
      : path_(::testing::TempDir() + "mcorps_" + std::to_string(::getpid()) + "_" + name) {
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// --- defaults and lookups ----------------------------------------------------------------------

TEST(TypeRegistry, EmptyRegistryHasNoBindings) {
  TypeRegistry r;
  EXPECT_TRUE(r.Bindings().empty());
  EXPECT_EQ(r.Find("VideoStream"), nullptr);
}

TEST(TypeRegistry, SeedDefaultsAreTheOriginalMap) {
  const TypeRegistry r = TypeRegistry::WithSeedDefaults();
  EXPECT_THAT(Topics(r), ElementsAre("Predictions", "VideoStream"));
  const TopicBinding* video = r.Find("VideoStream");
  ASSERT_NE(video, nullptr);
  EXPECT_EQ(video->topic, "VideoStream");
  EXPECT_EQ(video->type, protobuf::data::Image::descriptor());
  EXPECT_EQ(video->options.encoding, Encoding::kSeed);
  const TopicBinding* predictions = r.Find("Predictions");
  ASSERT_NE(predictions, nullptr);
  EXPECT_EQ(predictions->type->full_name(), "protobuf.predictions.Prediction");
  EXPECT_EQ(predictions->options.encoding, Encoding::kSeed);
  EXPECT_EQ(r.Find("videostream"), nullptr);  // topic names are case-sensitive
}

TEST(TypeRegistry, FindTypeUsesTheGeneratedPool) {
  const TypeRegistry r;
  EXPECT_EQ(r.FindType("protobuf.data.Image"), protobuf::data::Image::descriptor());
  EXPECT_EQ(r.FindType("protobuf.common.messageData"), protobuf::common::messageData::descriptor());
  EXPECT_EQ(r.FindType("protobufs.common.Boolean")->full_name(), "protobufs.common.Boolean");
  EXPECT_EQ(r.FindType("protobuf.predictions.BoundingBox")->full_name(),
            "protobuf.predictions.BoundingBox");
  EXPECT_EQ(r.FindType("protobuf.data.Nope"), nullptr);
  EXPECT_EQ(r.FindType(""), nullptr);
  EXPECT_EQ(r.FindType("acme.SensorReading"), nullptr);  // not before its descriptor set is added
}

TEST(TypeRegistry, NewMessageOfACompiledTypeIsTheGeneratedClass) {
  const TypeRegistry r;
  const pb::Descriptor* image_type = r.FindType("protobuf.data.Image");
  std::unique_ptr<pb::Message> m = r.NewMessage(image_type);
  ASSERT_NE(m, nullptr);
  EXPECT_NE(dynamic_cast<protobuf::data::Image*>(m.get()), nullptr);
  EXPECT_EQ(r.Prototype(image_type), &protobuf::data::Image::default_instance());
  EXPECT_EQ(r.NewMessage(nullptr), nullptr);
  EXPECT_EQ(r.Prototype(nullptr), nullptr);
}

TEST(TypeRegistry, TypeNamesListsCompiledSchemasSorted) {
  const std::vector<std::string> names = TypeRegistry().TypeNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  for (const char* want :
       {"protobuf.common.messageData", "protobuf.data.Image", "protobuf.predictions.Prediction",
        "protobuf.predictions.Detection", "protobufs.common.Boolean"}) {
    EXPECT_THAT(names, ::testing::Contains(want));
  }
}

// --- Bind --------------------------------------------------------------------------------------

TEST(Bind, ByDescriptorByNameAndByTopic) {
  TypeRegistry r;
  ASSERT_TRUE(r.Bind("frames", protobuf::data::Image::descriptor()).ok());
  TopicOptions confluent;
  confluent.encoding = Encoding::kConfluent;
  confluent.schema_id = 7;
  confluent.message_indexes = {1};
  ASSERT_TRUE(r.Bind("labels", "protobuf.predictions.Prediction", confluent).ok());
  ASSERT_TRUE(r.Bind(seed::VideoStream()).ok());

  EXPECT_THAT(Topics(r), ElementsAre("VideoStream", "frames", "labels"));
  EXPECT_EQ(r.Find("frames")->options.encoding, Encoding::kSeed);  // the default
  const TopicBinding* labels = r.Find("labels");
  ASSERT_NE(labels, nullptr);
  EXPECT_EQ(labels->type, protobuf::predictions::Prediction::descriptor());
  EXPECT_EQ(labels->options.encoding, Encoding::kConfluent);
  EXPECT_EQ(labels->options.schema_id, 7);
  EXPECT_THAT(labels->options.message_indexes, ElementsAre(1));
  EXPECT_EQ(r.Find("VideoStream")->type, protobuf::data::Image::descriptor());
}

TEST(Bind, Errors) {
  TypeRegistry r;
  EXPECT_EQ(r.Bind("", protobuf::data::Image::descriptor()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.Bind("t", static_cast<const pb::Descriptor*>(nullptr)).code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status unknown = r.Bind("t", "protobuf.data.Imag");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("protobuf.data.Imag"));
  TopicOptions bad;
  bad.encoding = Encoding::kConfluent;
  bad.message_indexes = {-1};
  EXPECT_EQ(r.Bind("t", protobuf::data::Image::descriptor(), bad).code(),
            absl::StatusCode::kInvalidArgument);

  // A descriptor from a pool the registry does not own could not be built safely: refused.
  pb::DescriptorPool foreign;
  pb::FileDescriptorProto file;
  file.set_name("foreign.proto");
  file.set_package("foreign");
  file.add_message_type()->set_name("Thing");
  ASSERT_NE(foreign.BuildFile(file), nullptr);
  absl::Status s = r.Bind("t", foreign.FindMessageTypeByName("foreign.Thing"));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("AddDescriptorSet"));
  EXPECT_EQ(r.NewMessage(foreign.FindMessageTypeByName("foreign.Thing")), nullptr);

  EXPECT_TRUE(r.Bindings().empty());
}

TEST(Bind, DuplicateBindingIsReplaced) {
  TypeRegistry r = TypeRegistry::WithSeedDefaults();
  const TopicBinding* before = r.Find("VideoStream");
  TopicOptions raw;
  raw.encoding = Encoding::kRaw;
  ASSERT_TRUE(r.Bind("VideoStream", protobuf::predictions::Prediction::descriptor(), raw).ok());
  EXPECT_EQ(r.Bindings().size(), 2u);
  const TopicBinding* after = r.Find("VideoStream");
  ASSERT_NE(after, nullptr);
  EXPECT_EQ(after->type, protobuf::predictions::Prediction::descriptor());
  EXPECT_EQ(after->options.encoding, Encoding::kRaw);
  EXPECT_EQ(before, after);  // same entry, updated in place: earlier pointers stay valid
}

TEST(Bind, BindingsAreSortedByTopic) {
  TypeRegistry r;
  for (const char* topic : {"b", "a.x", "C", "VideoStream", "a", "a-1"}) {
    ASSERT_TRUE(r.Bind(topic, protobuf::data::Image::descriptor()).ok());
  }
  EXPECT_THAT(Topics(r), ElementsAre("C", "VideoStream", "a", "a-1", "a.x", "b"));
}

TEST(TypeRegistry, MoveKeepsBindingsAndPointers) {
  TypeRegistry a = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(a.AddDescriptorSetFile(kAcmeDesc).ok());
  const TopicBinding* video = a.Find("VideoStream");
  const pb::Descriptor* sensor = a.FindType("acme.SensorReading");
  TypeRegistry b = std::move(a);
  EXPECT_EQ(b.Find("VideoStream"), video);
  EXPECT_EQ(b.FindType("acme.SensorReading"), sensor);
  EXPECT_NE(b.NewMessage(sensor), nullptr);
  TypeRegistry c;
  c = std::move(b);
  EXPECT_EQ(c.Find("VideoStream"), video);
}

// --- config text -------------------------------------------------------------------------------

TEST(Config, GoodText) {
  TypeRegistry r;
  const absl::Status s = r.LoadConfigText(
      "# topic -> type\n"
      "\n"
      "VideoStream  protobuf.data.Image  encoding=seed\n"
      "   Predictions\tprotobuf.predictions.Prediction   # the original's second topic\n"
      "frames.raw protobuf.data.Image encoding=RAW\r\n"
      "frames.sr protobuf.data.Image encoding=confluent schema_id=42 indexes=0,3\n"
      "flags protobufs.common.Boolean encoding=confluent\n"
      "   # indented comment\n"
      "\t\n",
      "bindings.conf");
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_THAT(Topics(r),
              ElementsAre("Predictions", "VideoStream", "flags", "frames.raw", "frames.sr"));
  EXPECT_EQ(r.Find("VideoStream")->options.encoding, Encoding::kSeed);
  EXPECT_EQ(r.Find("Predictions")->type, protobuf::predictions::Prediction::descriptor());
  EXPECT_EQ(r.Find("Predictions")->options.encoding, Encoding::kSeed);
  EXPECT_EQ(r.Find("frames.raw")->options.encoding, Encoding::kRaw);
  const TopicBinding* sr = r.Find("frames.sr");
  EXPECT_EQ(sr->options.encoding, Encoding::kConfluent);
  EXPECT_EQ(sr->options.schema_id, 42);
  EXPECT_THAT(sr->options.message_indexes, ElementsAre(0, 3));
  EXPECT_EQ(r.Find("flags")->options.schema_id, 0);
  EXPECT_TRUE(r.Find("flags")->options.message_indexes.empty());
  EXPECT_TRUE(r.LoadConfigText("").ok());
  EXPECT_TRUE(r.LoadConfigText("# nothing\n\n").ok());
}

TEST(Config, LaterLinesReplaceEarlierBindings) {
  TypeRegistry r = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(r.LoadConfigText("VideoStream protobuf.data.Image encoding=raw").ok());
  EXPECT_EQ(r.Find("VideoStream")->options.encoding, Encoding::kRaw);
  EXPECT_EQ(r.Bindings().size(), 2u);
}

struct BadConfig {
  const char* text;
  absl::StatusCode code;
  const char* message;
};

class ConfigErrors : public ::testing::TestWithParam<BadConfig> {};

TEST_P(ConfigErrors, NameTheSourceAndLine) {
  const BadConfig& c = GetParam();
  TypeRegistry r = TypeRegistry::WithSeedDefaults();
  // The bad line is line 3, after a comment and a good line.
  const std::string text = std::string("# bindings\nframes protobuf.data.Image encoding=raw\n") +
                           c.text + "\nlast x.Y\n";
  const absl::Status s = r.LoadConfigText(text, "bindings.conf");
  EXPECT_EQ(s.code(), c.code) << s;
  EXPECT_THAT(std::string(s.message()), StartsWith("bindings.conf:3: "));
  EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
  // All or nothing: the good line 2 was not applied.
  EXPECT_EQ(r.Find("frames"), nullptr);
  EXPECT_EQ(r.Bindings().size(), 2u);
}

INSTANTIATE_TEST_SUITE_P(
    TypeRegistry, ConfigErrors,
    ::testing::Values(
        BadConfig{"t protobuf.data.Imag", absl::StatusCode::kNotFound,
                  "unknown message type \"protobuf.data.Imag\""},
        BadConfig{"t protobuf.data.Image encoding=zstd", absl::StatusCode::kInvalidArgument,
                  "unknown encoding \"zstd\""},
        BadConfig{"lonely_topic", absl::StatusCode::kInvalidArgument, "missing message type"},
        BadConfig{"  lonely_topic   # a comment", absl::StatusCode::kInvalidArgument,
                  "missing message type"},
        BadConfig{"t protobuf.data.Image encoding=confluent schema_id=abc",
                  absl::StatusCode::kInvalidArgument, "schema_id \"abc\""},
        BadConfig{"t protobuf.data.Image encoding=confluent schema_id=-1",
                  absl::StatusCode::kInvalidArgument, "schema_id \"-1\""},
        BadConfig{"t protobuf.data.Image encoding=confluent schema_id=4294967296",
                  absl::StatusCode::kInvalidArgument, "schema_id \"4294967296\""},
        BadConfig{"t protobuf.data.Image encoding=confluent schema_id=",
                  absl::StatusCode::kInvalidArgument, "schema_id \"\""},
        BadConfig{"t protobuf.data.Image encoding=confluent indexes=1,,2",
                  absl::StatusCode::kInvalidArgument, "indexes \"1,,2\""},
        BadConfig{"t protobuf.data.Image encoding=confluent indexes=-1",
                  absl::StatusCode::kInvalidArgument, "indexes \"-1\""},
        BadConfig{"t protobuf.data.Image schema_id=5", absl::StatusCode::kInvalidArgument,
                  "only to encoding=confluent"},
        BadConfig{"t protobuf.data.Image encoding=raw encoding=seed",
                  absl::StatusCode::kInvalidArgument, "encoding given twice"},
        BadConfig{"t protobuf.data.Image compression=lz4", absl::StatusCode::kInvalidArgument,
                  "unknown option \"compression\""},
        BadConfig{"t protobuf.data.Image raw", absl::StatusCode::kInvalidArgument,
                  "expected key=value"},
        BadConfig{"bad/topic protobuf.data.Image", absl::StatusCode::kInvalidArgument,
                  "invalid topic name \"bad/topic\""}));

TEST(Config, FileGoodAndErrors) {
  TempFile good("good.conf",
                "VideoStream protobuf.data.Image\nPredictions "
                "protobuf.predictions.Prediction encoding=raw\n");
  TypeRegistry r;
  ASSERT_TRUE(r.LoadConfigFile(good.path()).ok());
  EXPECT_EQ(r.Find("Predictions")->options.encoding, Encoding::kRaw);

  TempFile bad("bad.conf", "\n\n\n\nVideoStream protobuf.data.Image encoding=gzip\n");
  const absl::Status s = r.LoadConfigFile(bad.path());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), StartsWith(bad.path() + ":5: "));

  const absl::Status missing = r.LoadConfigFile("/nonexistent/mcorps.conf");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.message()), HasSubstr("/nonexistent/mcorps.conf"));
}

// --- descriptor sets ---------------------------------------------------------------------------

TEST(DescriptorSet, LoadsTypesTheProgramWasNotCompiledWith) {
  TypeRegistry r;
  const absl::Status s = r.AddDescriptorSetFile(kAcmeDesc);
  ASSERT_TRUE(s.ok()) << s;
  const pb::Descriptor* sensor = r.FindType("acme.SensorReading");
  ASSERT_NE(sensor, nullptr);
  EXPECT_NE(sensor->file()->pool(), pb::DescriptorPool::generated_pool());
  EXPECT_NE(r.FindType("acme.SensorReading.Calibration"), nullptr);
  EXPECT_NE(r.FindType("acme.SensorBatch"), nullptr);
  // In both the set (--include_imports) and the program: the compiled-in type wins.
  EXPECT_EQ(r.FindType("protobuf.common.messageData"), protobuf::common::messageData::descriptor());

  const std::vector<std::string> names = r.TypeNames();
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_THAT(names,
              ::testing::IsSupersetOf({"acme.SensorBatch", "acme.SensorReading",
                                       "acme.SensorReading.Calibration", "protobuf.data.Image"}));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("acme.SensorReading.LabelsEntry")));
  EXPECT_EQ(std::adjacent_find(names.begin(), names.end()), names.end());  // no duplicates

  // Now bindable by name, from code and from config.
  ASSERT_TRUE(r.Bind("sensors", "acme.SensorReading").ok());
  ASSERT_TRUE(r.LoadConfigText("batches acme.SensorBatch encoding=raw").ok());
  EXPECT_EQ(r.Find("batches")->type, r.FindType("acme.SensorBatch"));
}

TEST(DescriptorSet, DynamicMessageRoundTrip) {
  TypeRegistry r;
  ASSERT_TRUE(r.AddDescriptorSetFile(kAcmeDesc).ok());
  const pb::Descriptor* type = r.FindType("acme.SensorReading");
  ASSERT_NE(type, nullptr);
  std::unique_ptr<pb::Message> m = r.NewMessage(type);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->GetDescriptor(), type);
  EXPECT_EQ(dynamic_cast<protobuf::data::Image*>(m.get()), nullptr);
  EXPECT_EQ(r.Prototype(type), r.Prototype(type));  // one cached prototype per type

  const pb::Reflection* refl = m->GetReflection();
  refl->SetString(m.get(), type->FindFieldByName("sensor_id"), "t-17");
  refl->SetDouble(m.get(), type->FindFieldByName("value"), 21.5);
  refl->SetEnumValue(m.get(), type->FindFieldByName("unit"), 1);
  refl->AddInt32(m.get(), type->FindFieldByName("samples"), 3);
  refl->AddInt32(m.get(), type->FindFieldByName("samples"), -4);
  pb::Message* cal = refl->MutableMessage(m.get(), type->FindFieldByName("calibration"));
  cal->GetReflection()->SetDouble(cal, cal->GetDescriptor()->FindFieldByName("scale"), 2.0);
  pb::Message* md = refl->MutableMessage(m.get(), type->FindFieldByName("_message_data"));
  md->GetReflection()->SetString(md, md->GetDescriptor()->FindFieldByName("trace_id"),
                                 "0af7651916cd43dd8448eb211c80319c");
  const pb::FieldDescriptor* labels = type->FindFieldByName("labels");
  pb::Message* entry = refl->AddMessage(m.get(), labels);
  entry->GetReflection()->SetString(entry, labels->message_type()->FindFieldByName("key"), "room");
  entry->GetReflection()->SetString(entry, labels->message_type()->FindFieldByName("value"), "lab");

  const std::string bytes = m->SerializeAsString();
  std::unique_ptr<pb::Message> back = r.NewMessage(type);
  ASSERT_TRUE(back->ParseFromString(bytes));
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*m, *back)) << back->DebugString();
  EXPECT_EQ(back->GetReflection()->GetString(*back, type->FindFieldByName("sensor_id")), "t-17");

  // The envelope is wire-compatible with the compiled messageData: field 15 parses as one.
  const pb::Message& md_back =
      back->GetReflection()->GetMessage(*back, type->FindFieldByName("_message_data"));
  protobuf::common::messageData compiled;
  ASSERT_TRUE(compiled.ParseFromString(md_back.SerializeAsString()));
  EXPECT_EQ(compiled.trace_id(), "0af7651916cd43dd8448eb211c80319c");

  // And through the codec, as a consumer of a runtime-bound topic would.
  std::string value, scratch;
  ASSERT_TRUE(Encode(*m, EncodeOptions{}, &value).ok());
  std::unique_ptr<pb::Message> decoded = r.NewMessage(type);
  ASSERT_TRUE(Decode(value, DetectEncoding(value), decoded.get(), {}, &scratch).ok());
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*m, *decoded));
}

TEST(DescriptorSet, FilesInAnyOrderAndTwice) {
  pb::FileDescriptorSet set = ReadAcmeSet();
  ASSERT_EQ(set.file_size(), 2);  // MessageData.proto, then acme/sensor.proto
  std::swap(*set.mutable_file(0), *set.mutable_file(1));
  TypeRegistry r;
  ASSERT_TRUE(r.AddDescriptorSet(set).ok());
  const pb::Descriptor* first = r.FindType("acme.SensorReading");
  ASSERT_NE(first, nullptr);
  ASSERT_TRUE(r.AddDescriptorSetFile(kAcmeDesc).ok());  // a second pool with the same types
  EXPECT_EQ(r.FindType("acme.SensorReading"), first);   // the first set added wins
  const std::vector<std::string> names = r.TypeNames();
  EXPECT_EQ(std::count(names.begin(), names.end(), "acme.SensorReading"), 1);
}

TEST(DescriptorSet, Errors) {
  TypeRegistry r;
  const absl::Status missing = r.AddDescriptorSetFile("/nonexistent/acme.desc");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);

  TempFile garbage("garbage.desc", "this is not a descriptor set\xff\xff");
  absl::Status s = r.AddDescriptorSetFile(garbage.path());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("not a FileDescriptorSet"));

  // Written without --include_imports: MessageData.proto is missing.
  pb::FileDescriptorSet set = ReadAcmeSet();
  pb::FileDescriptorSet without_imports;
  for (const auto& f : set.file()) {
    if (f.name() == "acme/sensor.proto") *without_imports.add_file() = f;
  }
  ASSERT_EQ(without_imports.file_size(), 1);
  s = r.AddDescriptorSet(without_imports);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("acme/sensor.proto"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("protobuf/common/MessageData.proto"));
  EXPECT_THAT(std::string(s.message()), HasSubstr("--include_imports"));

  TempFile partial("partial.desc", without_imports.SerializeAsString());
  s = r.AddDescriptorSetFile(partial.path());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr(partial.path()));

  // Same file name twice with different content.
  pb::FileDescriptorSet conflicting = set;
  *conflicting.add_file() = set.file(1);
  conflicting.mutable_file(2)->mutable_message_type(0)->set_name("Other");
  EXPECT_EQ(r.AddDescriptorSet(conflicting).code(), absl::StatusCode::kInvalidArgument);

  EXPECT_EQ(r.AddDescriptorSet(pb::FileDescriptorSet()).code(), absl::StatusCode::kInvalidArgument);

  // Nothing of the failed sets was added.
  EXPECT_EQ(r.FindType("acme.SensorReading"), nullptr);
  const absl::Status unknown = r.LoadConfigText("sensors acme.SensorReading");
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()), StartsWith("<config>:1: "));
}

TEST(DescriptorSet, ConstLookupsFromManyThreads) {
  TypeRegistry r = TypeRegistry::WithSeedDefaults();
  ASSERT_TRUE(r.AddDescriptorSetFile(kAcmeDesc).ok());
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&r, &failures] {
      for (int i = 0; i < 200; ++i) {
        const pb::Descriptor* d = r.FindType(i % 2 ? "acme.SensorBatch" : "acme.SensorReading");
        std::unique_ptr<pb::Message> m = r.NewMessage(d);
        if (d == nullptr || m == nullptr || r.Find("VideoStream") == nullptr) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace messagecorps
