#include "messagecorps/envelope.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "protobuf/common/MessageData.pb.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"
#include "protobufs/common/Boolean.pb.h"

// Counts heap allocations while enabled, to check that stamping a reused message allocates nothing.
namespace {
std::atomic<bool> g_count_allocations{false};
std::atomic<long> g_allocations{0};
}  // namespace

// GCC 12 flags malloc/free inside replaced operators once inlined into callers (a false positive).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void* operator new(std::size_t size) {
  if (g_count_allocations.load(std::memory_order_relaxed)) g_allocations.fetch_add(1);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace messagecorps {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::DescriptorPool;
using google::protobuf::DynamicMessageFactory;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptorProto;
using google::protobuf::Message;
using protobuf::common::messageData;

using namespace std::chrono_literals;

// 2018-07-30T08:26:31.123456Z
std::chrono::system_clock::time_point FixedTime() {
  using namespace std::chrono;
  return sys_days{year{2018} / July / 30} + 8h + 26min + 31s + microseconds{123456};
}

const Clock kFixedClock = [] { return FixedTime(); };

bool IsLowerHex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string WithoutDashes(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c != '-') out += c;
  }
  return out;
}

// A version-1 UUID (RFC 4122 variant) as 32 lowercase hex digits.
bool IsUuidV1Hex(std::string_view hex) {
  return IsLowerHex(hex, 32) && hex[12] == '1' &&
         std::string_view("89ab").find(hex[16]) != std::string_view::npos;
}

bool IsCanonicalUuidV1(std::string_view s) {
  if (s.size() != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-') return false;
  return IsUuidV1Hex(WithoutDashes(s));
}

std::string_view View(const std::string& s) { return {s.data(), s.size()}; }

// Sets (or unsets, for nullopt) an environment variable for the life of the object.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value) {
      setenv(name, value->c_str(), 1);
    } else {
      unsetenv(name);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

EnvelopeSettings Settings(std::string service = "camera",
                          protobuf::common::Environment env = protobuf::common::STAGING) {
  EnvelopeSettings settings;
  settings.service = std::move(service);
  settings.environment = env;
  return settings;
}

// Image and messageData from a pool other than the generated one, as a tool loading a descriptor
// set has them. `drop_span_fields` builds an older messageData without fields 9 and 10;
// `rename_envelope` renames Image's `_message_data` so the type has no envelope.
struct DynamicImage {
  explicit DynamicImage(bool drop_span_fields = false, bool rename_envelope = false) {
    FileDescriptorProto md_file, image_file;
    const google::protobuf::FileDescriptor* generated = protobuf::data::Image::descriptor()->file();
    generated->dependency(0)->CopyTo(&md_file);
    generated->CopyTo(&image_file);
    if (drop_span_fields) {
      auto* fields = md_file.mutable_message_type(0)->mutable_field();
      while (fields->size() > 8) fields->RemoveLast();
    }
    if (rename_envelope) {
      for (auto& field : *image_file.mutable_message_type(0)->mutable_field()) {
        if (field.name() == "_message_data") field.set_name("message_data_renamed");
      }
    }
    pool = std::make_unique<DescriptorPool>();
    EXPECT_NE(pool->BuildFile(md_file), nullptr);
    EXPECT_NE(pool->BuildFile(image_file), nullptr);
    type = pool->FindMessageTypeByName("protobuf.data.Image");
    factory = std::make_unique<DynamicMessageFactory>(pool.get());
    message.reset(factory->GetPrototype(type)->New());
  }
  ~DynamicImage() {
    message.reset();
    factory.reset();
    pool.reset();
  }

  std::unique_ptr<DescriptorPool> pool;
  const Descriptor* type = nullptr;
  std::unique_ptr<DynamicMessageFactory> factory;
  std::unique_ptr<Message> message;
};

const Message& Sub(const Message& m, const char* name) {
  return m.GetReflection()->GetMessage(m, m.GetDescriptor()->FindFieldByName(name));
}
std::string GetString(const Message& m, const char* name) {
  return m.GetReflection()->GetString(m, m.GetDescriptor()->FindFieldByName(name));
}

class EnvelopeTest : public ::testing::Test {
 protected:
  // Every test starts from a known environment.
  ScopedEnv environment_{"ENVIRONMENT", std::nullopt};
  ScopedEnv service_{"LOG_TAG_SERVICE", std::nullopt};
};

// --- settings from the environment -----------------------------------------------------------

TEST_F(EnvelopeTest, SettingsDefaultWithoutEnvironment) {
  auto settings = EnvelopeSettings::FromEnvironment();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->service, "NOTSET");
  EXPECT_EQ(settings->environment, protobuf::common::DEVELOPMENT);
}

TEST_F(EnvelopeTest, SettingsReadTheEnvironment) {
  ScopedEnv env("ENVIRONMENT", "PRODUCTION");
  ScopedEnv service("LOG_TAG_SERVICE", "webcam");
  auto settings = EnvelopeSettings::FromEnvironment();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->service, "webcam");
  EXPECT_EQ(settings->environment, protobuf::common::PRODUCTION);
}

TEST_F(EnvelopeTest, EnvironmentNameIsCaseInsensitive) {
  ScopedEnv env("ENVIRONMENT", "staging");
  auto settings = EnvelopeSettings::FromEnvironment();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->environment, protobuf::common::STAGING);
}

TEST_F(EnvelopeTest, EmptyVariablesMeanDefaults) {
  ScopedEnv env("ENVIRONMENT", "");
  ScopedEnv service("LOG_TAG_SERVICE", "");
  auto settings = EnvelopeSettings::FromEnvironment();
  ASSERT_TRUE(settings.ok()) << settings.status();
  EXPECT_EQ(settings->service, "NOTSET");
  EXPECT_EQ(settings->environment, protobuf::common::DEVELOPMENT);
}

TEST_F(EnvelopeTest, UnknownEnvironmentIsInvalidArgument) {
  ScopedEnv env("ENVIRONMENT", "PROD");
  auto settings = EnvelopeSettings::FromEnvironment();
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(settings.status().message().find("PROD"), absl::string_view::npos);
}

// --- stamping a generated message --------------------------------------------------------------

TEST_F(EnvelopeTest, StampsEveryField) {
  protobuf::data::Image image;
  image.set_frame(7);
  const EnvelopeSettings settings = Settings();  // env->service views into it
  auto env = Stamp(image, settings, nullptr, kFixedClock);
  ASSERT_TRUE(env.ok()) << env.status();
  const messageData& md = image._message_data();

  EXPECT_EQ(md.iso_date(), "2018-07-30T08:26:31.123456+00:00");
  EXPECT_DOUBLE_EQ(md.timestamp(), 1532939191.123456);
  EXPECT_EQ(md.environment(), protobuf::common::STAGING);
  EXPECT_EQ(md.sending_service(), "camera");
  EXPECT_TRUE(IsCanonicalUuidV1(md.uuid())) << md.uuid();
  EXPECT_TRUE(IsLowerHex(md.trace_id(), 32)) << md.trace_id();
  EXPECT_EQ(md.trace_id()[12], '1') << "a fresh trace is a v1 UUID without dashes";
  EXPECT_TRUE(IsLowerHex(md.span_id(), 16)) << md.span_id();
  EXPECT_EQ(md.parent_span_id(), "");
  EXPECT_EQ(md.offset(), 0);
  EXPECT_EQ(md.partition(), 0);
  EXPECT_EQ(image.frame(), 7) << "other fields untouched";

  // The returned envelope is what was written.
  EXPECT_EQ(env->uuid_view(), View(md.uuid()));
  EXPECT_EQ(env->iso_date_view(), View(md.iso_date()));
  EXPECT_EQ(env->timestamp, md.timestamp());
  EXPECT_EQ(env->time, FixedTime());
  EXPECT_EQ(env->trace.trace_id(), View(md.trace_id()));
  EXPECT_EQ(env->trace.span_id(), View(md.span_id()));
  EXPECT_EQ(env->environment, protobuf::common::STAGING);
  EXPECT_EQ(env->service, "camera");
}

TEST_F(EnvelopeTest, RealClockByDefault) {
  protobuf::data::Image image;
  auto before = std::chrono::system_clock::now();
  auto env = Stamp(image, Settings());
  auto after = std::chrono::system_clock::now();
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_GE(env->time, before);
  EXPECT_LE(env->time, after);
  std::array<char, 32> expected;
  FormatIsoDate(env->time, expected);
  EXPECT_EQ(image._message_data().iso_date(), std::string(expected.data(), expected.size()));
  EXPECT_NEAR(image._message_data().timestamp(),
              std::chrono::duration<double>(before.time_since_epoch()).count(), 1.0);
}

TEST_F(EnvelopeTest, SettingsFromEnvironmentReachTheMessage) {
  ScopedEnv env("ENVIRONMENT", "production");
  ScopedEnv service("LOG_TAG_SERVICE", "predictor");
  auto settings = EnvelopeSettings::FromEnvironment();
  ASSERT_TRUE(settings.ok());
  protobuf::predictions::Prediction prediction;
  ASSERT_TRUE(Stamp(prediction, *settings).ok());
  EXPECT_EQ(prediction._message_data().environment(), protobuf::common::PRODUCTION);
  EXPECT_EQ(prediction._message_data().sending_service(), "predictor");
}

TEST_F(EnvelopeTest, ExplicitSettingsOverrideTheEnvironment) {
  ScopedEnv env("ENVIRONMENT", "PRODUCTION");
  ScopedEnv service("LOG_TAG_SERVICE", "from-env");
  protobuf::data::Image image;
  ASSERT_TRUE(Stamp(image, Settings("explicit", protobuf::common::STAGING)).ok());
  EXPECT_EQ(image._message_data().environment(), protobuf::common::STAGING);
  EXPECT_EQ(image._message_data().sending_service(), "explicit");
  // A default-constructed EnvelopeSettings is the documented default, not the environment.
  protobuf::data::Image other;
  ASSERT_TRUE(Stamp(other, EnvelopeSettings{}).ok());
  EXPECT_EQ(other._message_data().environment(), protobuf::common::DEVELOPMENT);
  EXPECT_EQ(other._message_data().sending_service(), "NOTSET");
}

TEST_F(EnvelopeTest, ExistingTraceIsKept) {
  protobuf::data::Image image;
  image.mutable__message_data()->set_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  auto env = Stamp(image, Settings());
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(image._message_data().trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(env->trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(IsLowerHex(image._message_data().span_id(), 16));
  EXPECT_EQ(image._message_data().parent_span_id(), "");
}

TEST_F(EnvelopeTest, ExistingUpperCaseTraceIsLowered) {
  protobuf::data::Image image;
  image.mutable__message_data()->set_trace_id("4BF92F3577B34DA6A3CE929D0E0E4736");
  ASSERT_TRUE(Stamp(image, Settings()).ok());
  EXPECT_EQ(image._message_data().trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_F(EnvelopeTest, ParentTraceIsInherited) {
  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(parent.ok());
  protobuf::predictions::Prediction prediction;
  auto env = Stamp(prediction, Settings(), &*parent);
  ASSERT_TRUE(env.ok()) << env.status();
  const messageData& md = prediction._message_data();
  EXPECT_EQ(md.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(md.parent_span_id(), "00f067aa0ba902b7");
  EXPECT_TRUE(IsLowerHex(md.span_id(), 16));
  EXPECT_NE(md.span_id(), "00f067aa0ba902b7");
  EXPECT_EQ(env->trace.parent_span_id(), "00f067aa0ba902b7");
}

TEST_F(EnvelopeTest, MessageTraceWinsOverParentButParentSpanIsRecorded) {
  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(parent.ok());
  protobuf::data::Image image;
  image.mutable__message_data()->set_trace_id("0af7651916cd43dd8448eb211c80319c");
  ASSERT_TRUE(Stamp(image, Settings(), &*parent).ok());
  EXPECT_EQ(image._message_data().trace_id(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(image._message_data().parent_span_id(), "00f067aa0ba902b7");
}

TEST_F(EnvelopeTest, EmptyParentMeansANewTrace) {
  TraceContext empty;
  protobuf::data::Image image;
  ASSERT_TRUE(Stamp(image, Settings(), &empty).ok());
  EXPECT_TRUE(IsLowerHex(image._message_data().trace_id(), 32));
  EXPECT_EQ(image._message_data().parent_span_id(), "");
}

TEST_F(EnvelopeTest, NewMessagesGetNewTraces) {
  protobuf::data::Image a, b;
  ASSERT_TRUE(Stamp(a, Settings()).ok());
  ASSERT_TRUE(Stamp(b, Settings()).ok());
  EXPECT_NE(a._message_data().trace_id(), b._message_data().trace_id());
  EXPECT_NE(a._message_data().uuid(), b._message_data().uuid());
  // A new trace id is a version-1 UUID of its own (32 hex digits), not the message's uuid (36
  // characters, dashed) written without its dashes.
  EXPECT_TRUE(IsUuidV1Hex(a._message_data().trace_id())) << a._message_data().trace_id();
  EXPECT_NE(a._message_data().trace_id(), WithoutDashes(a._message_data().uuid()));
  EXPECT_NE(b._message_data().trace_id(), WithoutDashes(b._message_data().uuid()));
}

TEST_F(EnvelopeTest, ReusedMessageKeepsTraceWithFreshSpanAndUuid) {
  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  protobuf::data::Image image;
  ASSERT_TRUE(Stamp(image, Settings(), &*parent).ok());
  messageData first = image._message_data();
  ASSERT_TRUE(Stamp(image, Settings()).ok());
  const messageData& second = image._message_data();
  EXPECT_EQ(second.trace_id(), first.trace_id()) << "an existing trace id is kept, as the original";
  EXPECT_NE(second.span_id(), first.span_id());
  EXPECT_NE(second.uuid(), first.uuid());
  EXPECT_EQ(second.parent_span_id(), "") << "no parent given this time";
}

TEST_F(EnvelopeTest, SpanIsFreshPerCall) {
  protobuf::data::Image image;
  std::set<std::string> spans;
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(Stamp(image, Settings()).ok());
    EXPECT_TRUE(spans.insert(image._message_data().span_id()).second);
  }
}

TEST_F(EnvelopeTest, BadExistingTraceIsInvalidArgumentAndChangesNothing) {
  for (const char* bad :
       {"not-a-trace", "4bf92f3577b34da6a3ce929d0e0e473", "5e8e6720-e97c-11f1-b954-02fc00000001",
        "00000000000000000000000000000000"}) {
    protobuf::data::Image image;
    image.mutable__message_data()->set_trace_id(bad);
    auto env = Stamp(image, Settings());
    ASSERT_FALSE(env.ok()) << bad;
    EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(image._message_data().trace_id(), bad);
    EXPECT_EQ(image._message_data().uuid(), "");
    EXPECT_EQ(image._message_data().iso_date(), "");
  }
}

TEST_F(EnvelopeTest, TypeWithoutEnvelopeIsLeftAlone) {
  protobufs::common::Boolean boolean;
  boolean.set_value(true);
  EXPECT_FALSE(HasEnvelopeField(protobufs::common::Boolean::descriptor()));
  const EnvelopeSettings settings = Settings();
  auto env = Stamp(boolean, settings, nullptr, kFixedClock);
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(boolean.SerializeAsString(), std::string("\x08\x01", 2));
  // The envelope still exists, for the headers.
  EXPECT_TRUE(IsCanonicalUuidV1(env->uuid_view()));
  EXPECT_EQ(env->iso_date_view(), "2018-07-30T08:26:31.123456+00:00");
  EXPECT_TRUE(IsLowerHex(env->trace.trace_id(), 32));
  EXPECT_EQ(env->service, "camera");

  FillReceiveInfo(boolean, 5, 6);
  EXPECT_EQ(boolean.SerializeAsString(), std::string("\x08\x01", 2));
  EXPECT_EQ(EnvelopeOf(boolean), nullptr);
  EXPECT_TRUE(TraceOf(boolean).empty());
}

TEST_F(EnvelopeTest, HasEnvelopeField) {
  EXPECT_TRUE(HasEnvelopeField(protobuf::data::Image::descriptor()));
  EXPECT_TRUE(HasEnvelopeField(protobuf::predictions::Prediction::descriptor()));
  EXPECT_FALSE(HasEnvelopeField(protobufs::common::Boolean::descriptor()));
  EXPECT_FALSE(HasEnvelopeField(messageData::descriptor()));
  EXPECT_FALSE(HasEnvelopeField(nullptr));
  // Asked again (cached), same answers.
  EXPECT_TRUE(HasEnvelopeField(protobuf::data::Image::descriptor()));
  EXPECT_FALSE(HasEnvelopeField(protobufs::common::Boolean::descriptor()));
}

TEST_F(EnvelopeTest, MakeEnvelope) {
  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EnvelopeSettings settings = Settings("svc", protobuf::common::PRODUCTION);
  Envelope env = MakeEnvelope(settings, &*parent, kFixedClock);
  EXPECT_TRUE(IsCanonicalUuidV1(env.uuid_view()));
  EXPECT_EQ(env.iso_date_view(), "2018-07-30T08:26:31.123456+00:00");
  EXPECT_DOUBLE_EQ(env.timestamp, 1532939191.123456);
  EXPECT_EQ(env.trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(env.trace.parent_span_id(), "00f067aa0ba902b7");
  EXPECT_EQ(env.environment, protobuf::common::PRODUCTION);
  EXPECT_EQ(env.service, "svc");
  EXPECT_EQ(env.service.data(), settings.service.data()) << "a view into the settings";

  Envelope root = MakeEnvelope(settings);
  EXPECT_TRUE(IsLowerHex(root.trace.trace_id(), 32));
  EXPECT_EQ(root.trace.parent_span_id(), "");
}

// --- receive side ---------------------------------------------------------------------------

TEST_F(EnvelopeTest, FillReceiveInfo) {
  protobuf::data::Image image;
  FillReceiveInfo(image, 1234567890123, 7);
  EXPECT_EQ(image._message_data().offset(), 1234567890123);
  EXPECT_EQ(image._message_data().partition(), 7);
  FillReceiveInfo(image, 1, 0);
  EXPECT_EQ(image._message_data().offset(), 1);
  EXPECT_EQ(image._message_data().partition(), 0);
}

TEST_F(EnvelopeTest, EnvelopeOf) {
  protobuf::data::Image image;
  ASSERT_TRUE(Stamp(image, Settings()).ok());
  const Message* md = EnvelopeOf(image);
  ASSERT_NE(md, nullptr);
  EXPECT_EQ(md, &image._message_data());
  EXPECT_EQ(md->GetDescriptor()->full_name(), "protobuf.common.messageData");
}

TEST_F(EnvelopeTest, TraceOf) {
  protobuf::data::Image image;
  EXPECT_TRUE(TraceOf(image).empty()) << "no envelope yet";

  ASSERT_TRUE(Stamp(image, Settings()).ok());
  TraceContext trace = TraceOf(image);
  EXPECT_EQ(trace.trace_id(), View(image._message_data().trace_id()));
  EXPECT_EQ(trace.span_id(), View(image._message_data().span_id()));

  // A message derived from it continues the trace with the received span as parent.
  protobuf::predictions::Prediction derived;
  ASSERT_TRUE(Stamp(derived, Settings(), &trace).ok());
  EXPECT_EQ(derived._message_data().trace_id(), image._message_data().trace_id());
  EXPECT_EQ(derived._message_data().parent_span_id(), image._message_data().span_id());
}

TEST_F(EnvelopeTest, TraceOfAnOriginalMessageHasNoSpan) {
  protobuf::data::Image image;
  image.mutable__message_data()->set_trace_id("4bf92f3577b34da6a3ce929d0e0e4736");
  TraceContext trace = TraceOf(image);
  EXPECT_EQ(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace.span_id(), "");
  TraceContext child = trace.Child();
  EXPECT_EQ(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(child.parent_span_id(), "");

  image.mutable__message_data()->set_span_id("zz");
  EXPECT_EQ(TraceOf(image).trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736") << "bad span ignored";
  EXPECT_EQ(TraceOf(image).span_id(), "");

  image.mutable__message_data()->set_trace_id("garbage");
  EXPECT_TRUE(TraceOf(image).empty());
}

// --- dynamic messages ------------------------------------------------------------------------

TEST_F(EnvelopeTest, StampsADynamicMessage) {
  DynamicImage dyn;
  ASSERT_NE(dyn.type, nullptr);
  ASSERT_NE(dyn.type, protobuf::data::Image::descriptor()) << "must be a separate pool";
  EXPECT_TRUE(HasEnvelopeField(dyn.type));
  Message& msg = *dyn.message;
  msg.GetReflection()->SetInt64(&msg, dyn.type->FindFieldByName("frame"), 42);

  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  auto env = Stamp(msg, Settings("dyn", protobuf::common::PRODUCTION), &*parent, kFixedClock);
  ASSERT_TRUE(env.ok()) << env.status();

  const Message& md = Sub(msg, "_message_data");
  EXPECT_EQ(dynamic_cast<const messageData*>(&md), nullptr) << "the sub-message is dynamic too";
  EXPECT_EQ(&md, EnvelopeOf(msg));
  EXPECT_EQ(GetString(md, "iso_date"), "2018-07-30T08:26:31.123456+00:00");
  EXPECT_EQ(GetString(md, "sending_service"), "dyn");
  EXPECT_TRUE(IsCanonicalUuidV1(GetString(md, "uuid")));
  EXPECT_EQ(GetString(md, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(GetString(md, "parent_span_id"), "00f067aa0ba902b7");
  EXPECT_EQ(GetString(md, "span_id"), std::string(env->trace.span_id()));

  // The same bytes parse as the generated type with the same values.
  protobuf::data::Image image;
  ASSERT_TRUE(image.ParseFromString(msg.SerializeAsString()));
  EXPECT_EQ(image.frame(), 42);
  EXPECT_EQ(image._message_data().environment(), protobuf::common::PRODUCTION);
  EXPECT_DOUBLE_EQ(image._message_data().timestamp(), 1532939191.123456);
  EXPECT_EQ(image._message_data().uuid(), GetString(md, "uuid"));
  EXPECT_EQ(image._message_data().iso_date(), "2018-07-30T08:26:31.123456+00:00");

  // Receive side on the dynamic message.
  FillReceiveInfo(msg, 99, 3);
  ASSERT_TRUE(image.ParseFromString(msg.SerializeAsString()));
  EXPECT_EQ(image._message_data().offset(), 99);
  EXPECT_EQ(image._message_data().partition(), 3);
  TraceContext trace = TraceOf(msg);
  EXPECT_EQ(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace.span_id(), env->trace.span_id());
}

TEST_F(EnvelopeTest, DynamicMessageKeepsItsTraceAndRejectsABadOne) {
  DynamicImage dyn;
  Message& msg = *dyn.message;
  Message* md =
      msg.GetReflection()->MutableMessage(&msg, dyn.type->FindFieldByName("_message_data"));
  const FieldDescriptor* trace_field = md->GetDescriptor()->FindFieldByName("trace_id");
  md->GetReflection()->SetString(md, trace_field, "0AF7651916CD43DD8448EB211C80319C");
  ASSERT_TRUE(Stamp(msg, Settings()).ok());
  EXPECT_EQ(GetString(Sub(msg, "_message_data"), "trace_id"), "0af7651916cd43dd8448eb211c80319c");

  md->GetReflection()->SetString(md, trace_field, "nope");
  auto env = Stamp(msg, Settings());
  ASSERT_FALSE(env.ok());
  EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(EnvelopeTest, OlderDynamicEnvelopeWithoutSpanFields) {
  DynamicImage dyn(/*drop_span_fields=*/true);
  ASSERT_TRUE(HasEnvelopeField(dyn.type));
  auto env = Stamp(*dyn.message, Settings(), nullptr, kFixedClock);
  ASSERT_TRUE(env.ok()) << env.status();
  const Message& md = Sub(*dyn.message, "_message_data");
  EXPECT_EQ(md.GetDescriptor()->field_count(), 8);
  EXPECT_EQ(GetString(md, "iso_date"), "2018-07-30T08:26:31.123456+00:00");
  EXPECT_EQ(GetString(md, "trace_id"), std::string(env->trace.trace_id()));
}

TEST_F(EnvelopeTest, DescriptorCacheSurvivesPoolsComingAndGoing) {
  // Pools are destroyed and rebuilt, so a new descriptor may sit where an old one was; the cache
  // must answer for the live descriptor.
  for (int i = 0; i < 40; ++i) {
    const bool renamed = (i % 3) == 1;
    DynamicImage dyn(/*drop_span_fields=*/i % 2 == 0, renamed);
    ASSERT_EQ(HasEnvelopeField(dyn.type), !renamed) << i;
    auto env = Stamp(*dyn.message, Settings(), nullptr, kFixedClock);
    ASSERT_TRUE(env.ok()) << env.status();
    if (renamed) {
      EXPECT_EQ(dyn.message->ByteSizeLong(), 0u) << i;
    } else {
      EXPECT_EQ(GetString(Sub(*dyn.message, "_message_data"), "iso_date"),
                "2018-07-30T08:26:31.123456+00:00");
    }
  }
}

// A user's own type (not one the library knows), defined in a pool layered over the generated
// one: its `_message_data` is the generated messageData descriptor. With delegation the sub-message
// is the generated class (reflection finds the field, setters are direct); without, it is dynamic.
struct UserType {
  explicit UserType(bool delegate_to_generated) {
    FileDescriptorProto file;
    file.set_name("user/reading.proto");
    file.set_package("user");
    file.set_syntax("proto3");
    file.add_dependency("protobuf/common/MessageData.proto");
    auto* type = file.add_message_type();
    type->set_name("Reading");
    auto* value = type->add_field();
    value->set_name("value");
    value->set_number(1);
    value->set_type(google::protobuf::FieldDescriptorProto::TYPE_DOUBLE);
    value->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
    auto* envelope = type->add_field();
    envelope->set_name("_message_data");
    envelope->set_number(7);
    envelope->set_type(google::protobuf::FieldDescriptorProto::TYPE_MESSAGE);
    envelope->set_label(google::protobuf::FieldDescriptorProto::LABEL_OPTIONAL);
    envelope->set_type_name(".protobuf.common.messageData");
    messageData::descriptor();  // make sure the generated file is in the generated pool
    pool = std::make_unique<DescriptorPool>(DescriptorPool::generated_pool());
    EXPECT_NE(pool->BuildFile(file), nullptr);
    descriptor = pool->FindMessageTypeByName("user.Reading");
    factory = std::make_unique<DynamicMessageFactory>(pool.get());
    factory->SetDelegateToGeneratedFactory(delegate_to_generated);
    message.reset(factory->GetPrototype(descriptor)->New());
  }
  ~UserType() {
    message.reset();
    factory.reset();
    pool.reset();
  }
  std::unique_ptr<DescriptorPool> pool;
  const Descriptor* descriptor = nullptr;
  std::unique_ptr<DynamicMessageFactory> factory;
  std::unique_ptr<Message> message;
};

TEST_F(EnvelopeTest, StampsAUserTypeThroughReflection) {
  for (bool delegate : {true, false}) {
    SCOPED_TRACE(delegate ? "generated messageData" : "dynamic messageData");
    UserType user(delegate);
    ASSERT_NE(user.descriptor, nullptr);
    EXPECT_TRUE(HasEnvelopeField(user.descriptor));
    auto parent =
        TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    auto env = Stamp(*user.message, Settings("user"), &*parent, kFixedClock);
    ASSERT_TRUE(env.ok()) << env.status();
    const Message* md = EnvelopeOf(*user.message);
    ASSERT_NE(md, nullptr);
    EXPECT_EQ(dynamic_cast<const messageData*>(md) != nullptr, delegate);
    EXPECT_EQ(GetString(*md, "iso_date"), "2018-07-30T08:26:31.123456+00:00");
    EXPECT_EQ(GetString(*md, "sending_service"), "user");
    EXPECT_EQ(GetString(*md, "trace_id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    EXPECT_EQ(GetString(*md, "parent_span_id"), "00f067aa0ba902b7");
    EXPECT_TRUE(IsCanonicalUuidV1(GetString(*md, "uuid")));
    FillReceiveInfo(*user.message, 12, 2);
    EXPECT_EQ(md->GetReflection()->GetInt64(*md, md->GetDescriptor()->FindFieldByName("offset")),
              12);
    EXPECT_EQ(TraceOf(*user.message).span_id(), env->trace.span_id());
  }
}

// --- time formatting ------------------------------------------------------------------------

TEST(FormatIsoDate, GoldenStrings) {
  using namespace std::chrono;
  auto format = [](system_clock::time_point t) {
    std::array<char, 32> out;
    FormatIsoDate(t, out);
    return std::string(out.data(), out.size());
  };
  EXPECT_EQ(format(FixedTime()), "2018-07-30T08:26:31.123456+00:00");
  EXPECT_EQ(format(system_clock::time_point{}), "1970-01-01T00:00:00.000000+00:00");
  EXPECT_EQ(format(system_clock::time_point{} - microseconds{1}),
            "1969-12-31T23:59:59.999999+00:00");
  EXPECT_EQ(format(sys_days{year{2020} / February / 29} + 23h + 59min + 59s + microseconds{1}),
            "2020-02-29T23:59:59.000001+00:00");
  // Sub-microsecond digits are truncated, as Python's datetime does.
  EXPECT_EQ(format(sys_days{year{2024} / December / 31} + 1s + nanoseconds{999}),
            "2024-12-31T00:00:01.000000+00:00");
  EXPECT_EQ(format(system_clock::time_point{seconds{1700000000}}),
            "2023-11-14T22:13:20.000000+00:00");
}

// --- concurrency and allocation ------------------------------------------------------------

TEST_F(EnvelopeTest, ConcurrentStampsOnDifferentMessages) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 2000;
  std::vector<std::vector<std::string>> uuids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      protobuf::data::Image image;
      DynamicImage dyn;
      EnvelopeSettings settings = Settings();
      for (int i = 0; i < kPerThread; ++i) {
        image.mutable__message_data()->clear_trace_id();
        if (!Stamp(image, settings).ok()) return;
        uuids[t].push_back(image._message_data().uuid());
        if (i % 10 == 0 && !Stamp(*dyn.message, settings).ok()) return;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> all;
  for (const auto& v : uuids) {
    EXPECT_EQ(v.size(), size_t{kPerThread});
    all.insert(v.begin(), v.end());
  }
  EXPECT_EQ(all.size(), size_t{kThreads * kPerThread});
}

TEST_F(EnvelopeTest, ReusedGeneratedMessageStampsWithoutAllocating) {
  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  protobuf::data::Image image;
  image.set_image_data(std::string(100, 'x'));
  EnvelopeSettings settings = Settings("a-service-name-longer-than-sso");
  std::string out;
  ASSERT_TRUE(Stamp(image, settings, &*parent).ok());  // grows the strings once
  ASSERT_TRUE(image.SerializeToString(&out));
  out.reserve(1024);

  g_allocations = 0;
  g_count_allocations = true;
  bool ok = true;
  for (int i = 0; i < 100; ++i) {
    ok &= Stamp(image, settings, &*parent).ok();
    ok &= Stamp(image, settings).ok();
    ok &= image.SerializeToString(&out);
  }
  g_count_allocations = false;
  EXPECT_TRUE(ok);
  EXPECT_EQ(g_allocations.load(), 0);
}

}  // namespace
}  // namespace messagecorps
