// mcorps-gateway against the real broker, driven like a user would: a C++ gRPC client (the
// generated stub) and a plain HTTP client. Every payload form goes in over gRPC and REST and comes
// back out over gRPC Subscribe and SSE; traces continue; bad input is refused with the right code
// and field and produces nothing; resume tokens continue on another gateway process; a drain ends
// streams with a token.
#include <google/protobuf/any.pb.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/health_check_service_interface.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "integration/gateway_support.h"
#include "messagecorps/admin.h"
#include "messagecorps/codec.h"
#include "messagecorps/producer.h"
#include "messagecorps/topic.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

#ifndef MCORPS_ACME_DESCRIPTOR_SET
#error "MCORPS_ACME_DESCRIPTOR_SET (path of acme.desc) is defined by the test's CMake target"
#endif

namespace messagecorps::testing {
namespace {

using Json = nlohmann::json;
using protobuf::data::Image;
using protobuf::predictions::Prediction;

constexpr char kTraceparent[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr char kTraceId[] = "0af7651916cd43dd8448eb211c80319c";

Image SampleImage(int64_t frame) {
  Image image;
  image.set_image_data(std::string("\x00\xff\x10jpeg", 7));
  image.set_height(480);
  image.set_width(640);
  image.set_frame(frame);
  image.set_source("cam-test");
  return image;
}

// The whole suite shares one broker topic set and one gateway (a second one for resume tests).
class GatewayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    brokers_ = new std::string(TestBrokers());
    dir_ = new TempDir("gateway_test_");
    const std::string suffix = UniqueName("t").substr(2);
    image_ = new std::string("gw-img-" + suffix);
    raw_ = new std::string("gw-raw-" + suffix);
    confluent_ = new std::string("gw-conf-" + suffix);
    sensor_ = new std::string("gw-sensor-" + suffix);
    unbound_ = new std::string("gw-unbound-" + suffix);
    missing_ = new std::string("gw-missing-" + suffix);
    acked_ = new std::string("gw-acked-" + suffix);
    acked_sse_ = new std::string("gw-acked-sse-" + suffix);
    CreateTopicOrFail(*brokers_, *acked_, 1);
    CreateTopicOrFail(*brokers_, *acked_sse_, 1);
    for (const std::string* t : {image_, raw_, confluent_, sensor_, unbound_}) {
      CreateTopicOrFail(*brokers_, *t, 4);
    }
    std::ofstream(dir_->path() / "registry.conf")
        << *image_ << " protobuf.data.Image encoding=seed\n"
        << *raw_ << " protobuf.data.Image encoding=raw\n"
        << *confluent_ << " protobuf.data.Image encoding=confluent schema_id=7\n"
        << *sensor_ << " acme.SensorReading encoding=raw\n"
        << *missing_ << " protobuf.predictions.Prediction\n"
        << *acked_ << " protobuf.data.Image encoding=raw\n"
        << *acked_sse_ << " protobuf.data.Image encoding=raw\n";
    std::ofstream(dir_->path() / "secret") << "# test secret\nan-ample-test-secret-of-32-bytes\n";
    gateway_ = new GatewayProcess("gateway_a", *brokers_, BaseArgs(), dir_->path());
    ASSERT_TRUE(gateway_->WaitReady());
  }
  static void TearDownTestSuite() {
    delete gateway_;
    delete dir_;
  }

  static std::vector<std::string> BaseArgs() {
    return {"--registry",           (dir_->path() / "registry.conf").string(),
            "--descriptors",        MCORPS_ACME_DESCRIPTOR_SET,
            "--resume-secret-file", (dir_->path() / "secret").string(),
            "--stream-window",      "8"};
  }

  // Publishes over gRPC; fails the test on a non-OK status.
  static v1::PublishResponse Publish(const v1::PublishRequest& req,
                                     const std::string& traceparent = "") {
    grpc::ClientContext ctx;
    if (!traceparent.empty()) ctx.AddMetadata("traceparent", traceparent);
    v1::PublishResponse resp;
    grpc::Status s = gateway_->Stub()->Publish(&ctx, req, &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // The gRPC error of a publish (OK when it succeeded), with the mcorps-field trailer.
  static grpc::Status PublishError(const v1::PublishRequest& req, std::string* field = nullptr) {
    grpc::ClientContext ctx;
    v1::PublishResponse resp;
    grpc::Status s = gateway_->Stub()->Publish(&ctx, req, &resp);
    if (field != nullptr) {
      auto it = ctx.GetServerTrailingMetadata().find("mcorps-field");
      *field = it == ctx.GetServerTrailingMetadata().end()
                   ? ""
                   : std::string(it->second.data(), it->second.size());
    }
    return s;
  }

  // Reads `n` records over gRPC Subscribe starting at explicit offsets (fan-out).
  static std::vector<v1::Record> SubscribeFrom(GatewayProcess& gw, const std::string& topic,
                                               const std::map<int32_t, int64_t>& offsets, size_t n,
                                               v1::PayloadFormat format = v1::PAYLOAD_FORMAT_ANY) {
    v1::SubscribeRequest req;
    req.set_topic(topic);
    req.set_format(format);
    for (const auto& [p, o] : offsets) (*req.mutable_offsets()->mutable_offsets())[p] = o;
    return Read(gw, req, n);
  }

  static std::vector<v1::Record> Read(GatewayProcess& gw, const v1::SubscribeRequest& req, size_t n,
                                      grpc::Status* status = nullptr,
                                      std::string* trailer_token = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stub = gw.Stub();
    auto reader = stub->Subscribe(&ctx, req);
    std::vector<v1::Record> out;
    v1::SubscribeResponse resp;
    while (out.size() < n && reader->Read(&resp)) {
      for (const v1::Record& r : resp.records()) out.push_back(r);
    }
    if (out.size() >= n) {
      out.resize(n);  // a response may carry more records than asked for
      ctx.TryCancel();
    }
    grpc::Status s = reader->Finish();
    if (status != nullptr) *status = s;
    if (trailer_token != nullptr) {
      auto it = ctx.GetServerTrailingMetadata().find("mcorps-resume-token");
      *trailer_token = it == ctx.GetServerTrailingMetadata().end()
                           ? ""
                           : std::string(it->second.data(), it->second.size());
    }
    return out;
  }

  // Publishes `n` Images (frames first_frame...) to partition 0 of a fresh 1-partition topic:
  // offsets 0..n-1.
  static void PublishNumbered(const std::string& topic, int n, int64_t first_frame) {
    for (int i = 0; i < n; ++i) {
      v1::PublishRequest req;
      req.set_topic(topic);
      req.set_partition(0);
      req.mutable_message()->PackFrom(SampleImage(first_frame + i));
      ASSERT_EQ(Publish(req).offset(), i);
    }
  }

  // The group's committed offset on partition 0 (-1: none).
  static int64_t Committed(const std::string& group) {
    ClientConfig config;
    config.brokers = *brokers_;
    auto admin = AdminClient::Create(config);
    EXPECT_TRUE(admin.ok()) << admin.status();
    if (!admin.ok()) return -1;
    auto lag = (*admin)->GroupLag(group, std::chrono::seconds(5));
    return lag.ok() && !lag->empty() ? (*lag)[0].committed : -1;
  }
  // The same once it is `want`, polled for up to 20 s (an acknowledged stream commits between
  // fetches: a cycle is at most 500 ms; a loaded machine); else what it was last.
  static int64_t WaitCommitted(const std::string& group, int64_t want) {
    int64_t got = -1;
    for (int i = 0; i < 100 && got != want; ++i) {
      got = Committed(group);
      if (got != want) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return got;
  }

  static std::map<int32_t, int64_t> HighWatermarks(const std::string& topic) {
    ClientConfig config;
    config.brokers = *brokers_;
    auto admin = AdminClient::Create(config);
    EXPECT_TRUE(admin.ok());
    auto info = (*admin)->DescribeTopic(topic, std::chrono::seconds(10));
    EXPECT_TRUE(info.ok()) << info.status();
    std::map<int32_t, int64_t> out;
    if (info.ok()) {
      for (const auto& p : info->partitions) out[p.id] = p.high;
    }
    return out;
  }

  static Image AsImage(const v1::Record& r) {
    Image image;
    EXPECT_TRUE(r.message().UnpackTo(&image)) << r.DebugString();
    return image;
  }

  static std::string* brokers_;
  static TempDir* dir_;
  static std::string *image_, *raw_, *confluent_, *sensor_, *unbound_, *missing_, *acked_,
      *acked_sse_;
  static GatewayProcess* gateway_;
};

std::string* GatewayTest::brokers_ = nullptr;
TempDir* GatewayTest::dir_ = nullptr;
std::string *GatewayTest::image_, *GatewayTest::raw_, *GatewayTest::confluent_,
    *GatewayTest::sensor_, *GatewayTest::unbound_, *GatewayTest::missing_, *GatewayTest::acked_,
    *GatewayTest::acked_sse_;
GatewayProcess* GatewayTest::gateway_ = nullptr;

// The gateway runs on jemalloc (services/gateway/CMakeLists.txt: with glibc's malloc a streamed
// record cost it ~60% more CPU), except in sanitizer builds, which bring their own allocator. Read
// from the running process's mappings, so a build that drops the link (or a loader that picks
// glibc's malloc first) fails here.
TEST_F(GatewayTest, RunsOnTheAllocatorItWasBuiltFor) {
  std::ifstream maps("/proc/" + std::to_string(gateway_->process().pid()) + "/maps");
  ASSERT_TRUE(maps) << "cannot read the gateway's /proc/PID/maps";
  const std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  const bool jemalloc = text.find("/libjemalloc.so") != std::string::npos;
  EXPECT_EQ(jemalloc, std::string_view(MCORPS_GATEWAY_ALLOCATOR) == "jemalloc")
      << "built for: " << MCORPS_GATEWAY_ALLOCATOR;
}

TEST_F(GatewayTest, GrpcEveryPayloadFormRoundTrips) {
  struct Case {
    std::string name;
    std::string topic;
    std::function<void(v1::PublishRequest&, const Image&)> fill;
  };
  auto encoded = [](Encoding e, v1::Encoding tag) {
    return [e, tag](v1::PublishRequest& req, const Image& image) {
      EncodeOptions options;
      options.encoding = e;
      options.schema_id = 3;
      std::string value;
      ASSERT_TRUE(Encode(image, options, &value).ok());
      req.mutable_encoded()->set_value(value);
      req.mutable_encoded()->set_encoding(tag);
    };
  };
  const std::vector<Case> cases = {
      {"any", *image_,
       [](v1::PublishRequest& req, const Image& image) { req.mutable_message()->PackFrom(image); }},
      {"json", *raw_,
       [](v1::PublishRequest& req, const Image& image) {
         std::string json;
         ASSERT_TRUE(google::protobuf::util::MessageToJsonString(image, &json).ok());
         req.set_json(json);
       }},
      {"rest-hex", *confluent_,
       [](v1::PublishRequest& req, const Image& image) {
         req.set_json(ToSeedRestJson(image.SerializeAsString()));
       }},
      {"seed", *image_, encoded(Encoding::kSeed, v1::ENCODING_SEED)},
      {"raw", *raw_, encoded(Encoding::kRaw, v1::ENCODING_RAW)},
      {"confluent", *confluent_, encoded(Encoding::kConfluent, v1::ENCODING_CONFLUENT)},
      {"detected-seed", *raw_, encoded(Encoding::kSeed, v1::ENCODING_UNSPECIFIED)},
  };
  int64_t frame = 1000;
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const Image image = SampleImage(++frame);
    v1::PublishRequest req;
    req.set_topic(c.topic);
    req.set_key("cam-test");
    c.fill(req, image);
    const v1::PublishResponse resp = Publish(req);
    ASSERT_EQ(resp.topic(), c.topic);
    ASSERT_GE(resp.offset(), 0);
    EXPECT_EQ(resp.trace_id().size(), 32u);
    EXPECT_EQ(resp.span_id().size(), 16u);
    EXPECT_EQ(resp.uuid().size(), 36u);

    const auto records = SubscribeFrom(*gateway_, c.topic, {{resp.partition(), resp.offset()}}, 1);
    ASSERT_EQ(records.size(), 1u);
    const v1::Record& r = records[0];
    EXPECT_EQ(r.partition(), resp.partition());
    EXPECT_EQ(r.offset(), resp.offset());
    EXPECT_EQ(r.key(), "cam-test");
    EXPECT_EQ(r.type(), "protobuf.data.Image");
    EXPECT_TRUE(r.error().empty()) << r.error();
    const Image back = AsImage(r);
    EXPECT_EQ(back.frame(), image.frame());
    EXPECT_EQ(back.image_data(), image.image_data());
    EXPECT_EQ(back._message_data().uuid(), resp.uuid());
    EXPECT_EQ(back._message_data().sending_service(), "gateway");
    EXPECT_EQ(back._message_data().offset(), resp.offset());
    EXPECT_EQ(r.envelope().uuid(), resp.uuid());
    EXPECT_EQ(r.trace_id(), resp.trace_id());
    EXPECT_FALSE(r.resume_token().empty());
  }
  // The stored encoding is the topic's, whatever the client sent.
  const auto seed = SubscribeFrom(*gateway_, *image_, {{0, 0}, {1, 0}, {2, 0}, {3, 0}}, 1);
  ASSERT_EQ(seed.size(), 1u);
  EXPECT_EQ(seed[0].encoding(), v1::ENCODING_SEED);
}

TEST_F(GatewayTest, RestEveryPayloadFormRoundTripsOverSse) {
  auto http = gateway_->Http();
  const std::string path = "/v1/topics/" + *raw_ + "/records";
  struct Sent {
    std::string name;
    Json result;
    int64_t frame;
  };
  std::vector<Sent> sent;
  int64_t frame = 2000;
  auto post = [&](const std::string& name, const std::string& body, const std::string& type,
                  const std::string& query = "") {
    auto res = http.Post((path + query).c_str(), body, type.c_str());
    ASSERT_TRUE(res) << name;
    ASSERT_EQ(res->status, 200) << name << ": " << res->body;
    Json result = Json::parse(res->body);
    if (result.contains("results")) {
      for (auto& r : result["results"]) sent.push_back({name, r, 0});
    } else {
      sent.push_back({name, result, 0});
    }
  };
  {
    Image image = SampleImage(++frame);
    std::string json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(image, &json).ok());
    post("json", json, "application/json", "?key=k1");
  }
  post("hex", ToSeedRestJson(SampleImage(++frame).SerializeAsString()), "application/json");
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    EncodeOptions options;
    options.encoding = e;
    std::string value;
    ASSERT_TRUE(Encode(SampleImage(++frame), options, &value).ok());
    post(std::string(EncodingName(e)), value,
         "application/x-protobuf; encoding=" + std::string(EncodingName(e)));
  }
  post("batch", R"([{"frame": 2100}, {"frame": 2101}])", "application/json");
  ASSERT_EQ(sent.size(), 7u);

  // Read everything back over SSE from the offsets the results named.
  std::set<std::pair<int, int64_t>> want;
  std::map<int, int64_t> first;
  for (const Sent& s : sent) {
    const int p = s.result["partition"];
    const int64_t o = s.result["offset"];
    want.insert({p, o});
    if (!first.count(p) || first[p] > o) first[p] = o;
  }
  std::string offsets;
  for (const auto& [p, o] : first) absl::StrAppend(&offsets, offsets.empty() ? "" : ",", p, ":", o);
  const auto events = ReadSse(gateway_->http_port(), path + "?offsets=" + offsets, want.size(),
                              std::chrono::seconds(30));
  std::set<std::pair<int, int64_t>> got;
  for (const SseEvent& e : events) {
    ASSERT_EQ(e.event, "record");
    Json data = Json::parse(e.data);
    got.insert({data["partition"].get<int>(), data["offset"].get<int64_t>()});
    EXPECT_EQ(e.id, data["resume_token"]);
    EXPECT_EQ(data["type"], "protobuf.data.Image");
    EXPECT_TRUE(data["message"].is_object()) << e.data;
    EXPECT_EQ(data["envelope"]["trace_id"], data["trace_id"]);
    for (const Sent& s : sent) {
      if (s.result["partition"] == data["partition"] && s.result["offset"] == data["offset"]) {
        EXPECT_EQ(data["envelope"]["uuid"], s.result["uuid"]) << s.name;
        EXPECT_EQ(data["trace_id"], s.result["trace_id"]) << s.name;
        if (s.name == "json") {
          EXPECT_EQ(data["key"], "k1");
        }
      }
    }
  }
  EXPECT_EQ(got, want);

  // format=hex gives the original's REST form back.
  const auto hex = ReadSse(gateway_->http_port(), path + "?format=hex&offsets=" + offsets, 1,
                           std::chrono::seconds(30));
  ASSERT_EQ(hex.size(), 1u);
  Json data = Json::parse(hex[0].data);
  ASSERT_TRUE(data["protobuf"].is_string());
  auto bytes = FromSeedRestJson(Json{{"protobuf", data["protobuf"]}}.dump());
  ASSERT_TRUE(bytes.ok());
  Image image;
  EXPECT_TRUE(image.ParseFromString(*bytes));
}

TEST_F(GatewayTest, SseSeesGrpcPublishesAndGrpcSeesRestPublishes) {
  // SSE (latest) first: the response headers arrive once the subscription is open.
  std::vector<SseEvent> events;
  std::atomic<bool> open{false};
  std::thread sse([&] {
    httplib::Client client("127.0.0.1", gateway_->http_port());
    client.set_read_timeout(std::chrono::seconds(30));
    SseParser parser;
    client.Get(("/v1/topics/" + *image_ + "/records").c_str(), httplib::Headers{},
               [&](const httplib::Response&) {
                 open = true;
                 return true;
               },
               [&](const char* d, size_t n) {
                 return parser.Feed(d, n, [&](const SseEvent& e) {
                   events.push_back(e);
                   return false;
                 });
               });
  });
  while (!open) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  v1::PublishRequest req;
  req.set_topic(*image_);
  req.mutable_message()->PackFrom(SampleImage(3001));
  const v1::PublishResponse published = Publish(req);
  sse.join();
  ASSERT_EQ(events.size(), 1u);
  Json data = Json::parse(events[0].data);
  EXPECT_EQ(data["offset"], published.offset());
  EXPECT_EQ(data["message"]["frame"], "3001");
  EXPECT_EQ(data["envelope"]["uuid"], published.uuid());

  // gRPC Subscribe (latest): initial metadata says it is open.
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SubscribeRequest sub;
  sub.set_topic(*image_);
  sub.set_format(v1::PAYLOAD_FORMAT_JSON);
  auto stub = gateway_->Stub();
  auto reader = stub->Subscribe(&ctx, sub);
  reader->WaitForInitialMetadata();
  EXPECT_TRUE(ctx.GetServerInitialMetadata().count("mcorps-resume-token"));
  auto res = gateway_->Http().Post(("/v1/topics/" + *image_ + "/records").c_str(),
                                   R"({"frame": 3002})", "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
  const Json rest = Json::parse(res->body);
  v1::SubscribeResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ASSERT_GE(resp.records_size(), 1);
  EXPECT_EQ(resp.records(0).offset(), rest["offset"]);
  EXPECT_EQ(Json::parse(resp.records(0).json())["frame"], "3002");
  EXPECT_EQ(resp.records(0).envelope().uuid(), rest["uuid"]);
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(GatewayTest, TraceContinuesFromTraceparent) {
  v1::PublishRequest req;
  req.set_topic(*image_);
  req.mutable_message()->PackFrom(SampleImage(4001));
  // gRPC metadata.
  const v1::PublishResponse a = Publish(req, kTraceparent);
  EXPECT_EQ(a.trace_id(), kTraceId);
  // The request field wins over metadata (per message on streams).
  req.set_traceparent("00-11111111111111111111111111111111-2222222222222222-01");
  const v1::PublishResponse b = Publish(req, kTraceparent);
  EXPECT_EQ(b.trace_id(), "11111111111111111111111111111111");
  // No trace, or an invalid one (ignored, as W3C says): a new trace.
  req.clear_traceparent();
  const v1::PublishResponse c = Publish(req);
  const v1::PublishResponse d = Publish(req, "00-nonsense");
  EXPECT_EQ(c.trace_id().size(), 32u);
  EXPECT_NE(c.trace_id(), d.trace_id());
  EXPECT_NE(c.trace_id(), kTraceId);

  // The record carries it in its envelope and its traceparent header; the record's parent is the
  // gateway's span, itself a child of the client's span.
  const auto records = SubscribeFrom(*gateway_, *image_, {{a.partition(), a.offset()}}, 1);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].trace_id(), kTraceId);
  EXPECT_EQ(records[0].envelope().trace_id(), kTraceId);
  EXPECT_EQ(records[0].envelope().span_id(), a.span_id());
  EXPECT_FALSE(records[0].envelope().parent_span_id().empty());
  EXPECT_NE(records[0].envelope().parent_span_id(), "b7ad6b7169203331");
  std::string traceparent;
  for (const v1::Header& h : records[0].headers()) {
    if (h.key() == "traceparent") traceparent = h.value();
  }
  EXPECT_EQ(traceparent, absl::StrCat("00-", kTraceId, "-", a.span_id(), "-01"));

  // REST: the traceparent header, and the trace id back in the body and a response header.
  auto res = gateway_->Http().Post(("/v1/topics/" + *image_ + "/records").c_str(),
                                   httplib::Headers{{"traceparent", kTraceparent}},
                                   R"({"frame": 4002})", "application/json");
  ASSERT_TRUE(res && res->status == 200);
  const Json body = Json::parse(res->body);
  EXPECT_EQ(body["trace_id"], kTraceId);
  EXPECT_EQ(res->get_header_value("traceparent"),
            absl::StrCat("00-", kTraceId, "-", body["span_id"].get<std::string>(), "-01"));
}

TEST_F(GatewayTest, BadInputIsRefusedAndProducesNothing) {
  const auto before = HighWatermarks(*image_);
  struct Case {
    std::string name;
    std::function<void(v1::PublishRequest&)> fill;
    grpc::StatusCode code;
    std::string field;
    std::string text;
  };
  Prediction prediction;
  prediction.add_object("cat");
  prediction.set_frame_width(3);
  const std::vector<Case> cases = {
      {"malformed json", [](auto& r) { r.set_json(R"({"frame": 1,})"); },
       grpc::StatusCode::INVALID_ARGUMENT, "", "JSON parse error"},
      {"json wrong field type", [](auto& r) { r.set_json(R"({"height": "tall"})"); },
       grpc::StatusCode::INVALID_ARGUMENT, "height", "invalid value"},
      {"json unknown field", [](auto& r) { r.set_json(R"({"_message_data": {"nope": 1}})"); },
       grpc::StatusCode::INVALID_ARGUMENT, "_message_data.nope", "no such field"},
      {"bad hex", [](auto& r) { r.set_json(R"({"protobuf": "zz"})"); },
       grpc::StatusCode::INVALID_ARGUMENT, "", "invalid hex digit"},
      {"malformed protobuf",
       [](auto& r) {
         r.mutable_encoded()->set_value(std::string("\x0a\x50short", 7));
         r.mutable_encoded()->set_encoding(v1::ENCODING_RAW);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "image_data", "runs past the end"},
      {"corrupt seed",
       [](auto& r) {
         r.mutable_encoded()->set_value(std::string("\x78\x9c\x00\x01", 4));
         r.mutable_encoded()->set_encoding(v1::ENCODING_SEED);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "", "seed payload"},
      {"wrong type in Any", [&](auto& r) { r.mutable_message()->PackFrom(prediction); },
       grpc::StatusCode::INVALID_ARGUMENT, "", "the topic carries protobuf.data.Image"},
      {"wrong type as bytes",
       [&](auto& r) {
         r.mutable_encoded()->set_value(prediction.SerializeAsString());
         r.mutable_encoded()->set_encoding(v1::ENCODING_RAW);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "", "is not a field of protobuf.data.Image"},
      {"bad envelope trace id",
       [](auto& r) { r.set_json(R"({"_message_data": {"trace_id": "xyz"}})"); },
       grpc::StatusCode::INVALID_ARGUMENT, "_message_data.trace_id", "32 hex digits"},
      {"reserved header",
       [](auto& r) {
         r.set_json("{}");
         (*r.mutable_headers())["ce_id"] = "forged";
       },
       grpc::StatusCode::INVALID_ARGUMENT, "headers[ce_id]", "reserved"},
      {"no such partition",
       [](auto& r) {
         r.set_json("{}");
         r.set_partition(99);
       },
       grpc::StatusCode::INVALID_ARGUMENT, "partition", "is not a partition"},
      {"no payload", [](auto&) {}, grpc::StatusCode::INVALID_ARGUMENT, "payload", "none of"},
      {"over the size limit",
       [](auto& r) {
         r.mutable_encoded()->set_value(std::string(5 << 20, 'x'));
         r.mutable_encoded()->set_encoding(v1::ENCODING_RAW);
       },
       grpc::StatusCode::RESOURCE_EXHAUSTED, "", ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::PublishRequest req;
    req.set_topic(*image_);
    c.fill(req);
    std::string field;
    const grpc::Status s = PublishError(req, &field);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_EQ(field, c.field) << s.error_message();
    EXPECT_NE(s.error_message().find(c.text), std::string::npos) << s.error_message();
  }
  // Topics: unknown, not bound, bound but not in Kafka.
  auto topic_error = [&](const std::string& topic) {
    v1::PublishRequest req;
    req.set_topic(topic);
    req.set_json("{}");
    return PublishError(req);
  };
  EXPECT_EQ(topic_error("gw-no-such-topic").error_code(), grpc::StatusCode::NOT_FOUND);
  const grpc::Status unbound = topic_error(*unbound_);
  EXPECT_EQ(unbound.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(unbound.error_message().find("no message type is bound"), std::string::npos);
  const grpc::Status missing = topic_error(*missing_);
  EXPECT_EQ(missing.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(missing.error_message().find("does not exist in Kafka"), std::string::npos);

  // The same over REST: status codes and JSON errors.
  auto http = gateway_->Http();
  const std::string path = "/v1/topics/" + *image_ + "/records";
  struct RestCase {
    std::string name, path, body, type;
    int status;
    std::string field;
  };
  const std::vector<RestCase> rest = {
      {"malformed json", path, R"({"frame": )", "application/json", 400, ""},
      {"field", path, R"({"frame": "x"})", "application/json", 400, "frame"},
      {"bad hex", path, R"({"protobuf": "0"})", "application/json", 400, ""},
      {"malformed protobuf", path, std::string("\x0a\x50short", 7), "application/x-protobuf", 400,
       "image_data"},
      {"bad encoding", path, "x", "application/x-protobuf; encoding=gzip", 400, "encoding"},
      {"batch with one bad", path, R"([{"frame": 1}, {"frame": "x"}])", "application/json", 400,
       "[1].frame"},
      {"unsupported type", path, "frame=1", "text/plain", 415, ""},
      {"unknown topic", "/v1/topics/gw-no-such-topic/records", "{}", "application/json", 404, ""},
      {"unbound topic", "/v1/topics/" + *unbound_ + "/records", "{}", "application/json", 400, ""},
      {"too large", path, std::string(5 << 20, ' '), "application/json", 413, ""},
  };
  for (const RestCase& c : rest) {
    SCOPED_TRACE(c.name);
    auto res = http.Post(c.path.c_str(), c.body, c.type.c_str());
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status) << res->body;
    const Json error = Json::parse(res->body, nullptr, false);
    ASSERT_TRUE(error.is_object() && error.contains("error")) << res->body;
    EXPECT_EQ(error["error"]["code"], c.status);
    EXPECT_FALSE(error["error"]["message"].get<std::string>().empty());
    if (!c.field.empty()) {
      EXPECT_EQ(error["error"]["field"], c.field) << res->body;
    }
  }

  // Nothing reached Kafka, and the gateway still serves.
  EXPECT_EQ(HighWatermarks(*image_), before);
  v1::PublishRequest ok;
  ok.set_topic(*image_);
  ok.set_json(R"({"frame": 5000})");
  EXPECT_GE(Publish(ok).offset(), 0);
}

TEST_F(GatewayTest, PublishStreamAnswersInOrderWithPerMessageErrors) {
  grpc::ClientContext ctx;
  auto stub = gateway_->Stub();
  auto stream = stub->PublishStream(&ctx);
  constexpr int kMessages = 300;
  std::thread writer([&] {
    for (int i = 0; i < kMessages; ++i) {
      v1::PublishRequest req;
      req.set_topic(*raw_);
      req.set_correlation_id(i);
      if (i % 50 == 7) {
        req.set_json(R"({"frame": "not a number"})");
      } else {
        req.mutable_message()->PackFrom(SampleImage(6000 + i));
      }
      ASSERT_TRUE(stream->Write(req));
    }
    stream->WritesDone();
  });
  std::vector<v1::PublishResponse> results;
  v1::PublishResponse resp;
  while (stream->Read(&resp)) results.push_back(resp);
  writer.join();
  const grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(results.size(), static_cast<size_t>(kMessages));
  std::map<int32_t, int64_t> last_offset;
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_EQ(results[i].correlation_id(), static_cast<uint64_t>(i));
    if (i % 50 == 7) {
      EXPECT_EQ(results[i].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_EQ(results[i].field(), "frame");
    } else {
      EXPECT_EQ(results[i].code(), 0) << results[i].error();
      auto it = last_offset.find(results[i].partition());
      if (it != last_offset.end()) {
        EXPECT_GT(results[i].offset(), it->second);
      }
      last_offset[results[i].partition()] = results[i].offset();
    }
  }
}

// Several records per request: one response per request with one result per record, in order;
// a bad record fails alone; a request that mixes a payload with records, nests them or carries more
// than 1000 is refused whole; the stream goes on. What reached Kafka is counted: only the good
// records of the batch and the single message.
TEST_F(GatewayTest, PublishStreamBatchesAnswerOneResultPerRecord) {
  auto total = [](const std::map<int32_t, int64_t>& highs) {
    int64_t n = 0;
    for (const auto& [p, high] : highs) n += high;
    return n;
  };
  const int64_t before = total(HighWatermarks(*raw_));
  grpc::ClientContext ctx;
  auto stub = gateway_->Stub();
  auto stream = stub->PublishStream(&ctx);
  v1::PublishRequest batch;
  batch.set_topic(*raw_);
  batch.set_correlation_id(1);
  for (int i = 0; i < 20; ++i) {
    v1::PublishRequest* r = batch.add_records();
    r->set_correlation_id(100 + i);
    if (i == 5) {
      r->set_json(R"({"frame": "not a number"})");
    } else {
      r->mutable_message()->PackFrom(SampleImage(7000 + i));
    }
  }
  v1::PublishRequest mixed = batch;
  mixed.set_correlation_id(2);
  mixed.set_json(R"({"frame": 1})");
  v1::PublishRequest nested;
  nested.set_topic(*raw_);
  nested.set_correlation_id(3);
  *nested.add_records()->add_records() = batch.records(0);
  v1::PublishRequest single;
  single.set_topic(*raw_);
  single.set_correlation_id(4);
  single.mutable_message()->PackFrom(SampleImage(7100));
  v1::PublishRequest too_many;
  too_many.set_topic(*raw_);
  too_many.set_correlation_id(5);
  for (int i = 0; i < 1001; ++i)
    too_many.add_records()->mutable_message()->PackFrom(SampleImage(i));
  for (const v1::PublishRequest* req : {&batch, &mixed, &nested, &single, &too_many}) {
    ASSERT_TRUE(stream->Write(*req));
  }
  stream->WritesDone();
  std::vector<v1::PublishResponse> responses;
  v1::PublishResponse resp;
  while (stream->Read(&resp)) responses.push_back(resp);
  const grpc::Status s = stream->Finish();
  EXPECT_TRUE(s.ok()) << s.error_message();
  ASSERT_EQ(responses.size(), 5u);

  EXPECT_EQ(responses[0].correlation_id(), 1u);
  EXPECT_EQ(responses[0].code(), 0);
  ASSERT_EQ(responses[0].results_size(), 20);
  for (int i = 0; i < 20; ++i) {
    const v1::PublishResponse& r = responses[0].results(i);
    EXPECT_EQ(r.correlation_id(), static_cast<uint64_t>(100 + i));
    if (i == 5) {
      EXPECT_EQ(r.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
      EXPECT_EQ(r.field(), "frame");
    } else {
      EXPECT_EQ(r.code(), 0) << r.error();
      EXPECT_EQ(r.topic(), *raw_);  // the batch's topic
      EXPECT_GE(r.offset(), 0);
    }
  }
  EXPECT_EQ(responses[1].correlation_id(), 2u);
  EXPECT_EQ(responses[1].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(responses[1].field(), "payload");
  EXPECT_EQ(responses[1].results_size(), 0);
  ASSERT_EQ(responses[2].results_size(), 1);
  EXPECT_EQ(responses[2].results(0).code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(responses[2].results(0).field(), "records");
  EXPECT_EQ(responses[3].correlation_id(), 4u);
  EXPECT_EQ(responses[3].code(), 0) << responses[3].error();
  EXPECT_EQ(responses[3].results_size(), 0);
  EXPECT_EQ(responses[4].correlation_id(), 5u);
  EXPECT_EQ(responses[4].code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(responses[4].field(), "records");
  EXPECT_NE(responses[4].error().find("1001 records"), std::string::npos) << responses[4].error();
  EXPECT_EQ(responses[4].results_size(), 0);
  // 19 good records of the batch and the single message; nothing of the refused requests (every
  // result above was sent after its record's delivery report, so the high watermarks include them).
  EXPECT_EQ(total(HighWatermarks(*raw_)) - before, 20);

  // Unary Publish takes one message only.
  grpc::ClientContext unary_ctx;
  v1::PublishResponse unary;
  const grpc::Status refused = stub->Publish(&unary_ctx, batch, &unary);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GatewayTest, SubscribeFromATimestampStartsAtTheFirstRecordAtOrAfterIt) {
  // Three records with CreateTime stamps in the future (the broker accepts up to an hour ahead),
  // so that no record another test wrote into the shared topic lies at or after them.
  const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  const int64_t base = now_ms + 30 * 60 * 1000;
  auto producer = MakeProducer(*brokers_);
  TopicOptions raw_encoding;
  raw_encoding.encoding = Encoding::kRaw;
  const Topic<Image> topic(*raw_, raw_encoding);
  std::vector<int64_t> offsets;
  for (int i = 0; i < 3; ++i) {
    Image image = SampleImage(7100 + i);
    SendOptions options;
    options.partition = 1;
    options.timestamp_ms = base + i * 10'000;
    auto report = producer->SendSync(topic, image, options);
    ASSERT_TRUE(report.ok()) << report.status();
    offsets.push_back(report->offset);
  }
  // SSE from between the first and the second: the second and the third, nothing else.
  const std::string path =
      "/v1/topics/" + *raw_ + "/records?timestamp=" + std::to_string(base + 5'000);
  const auto events = ReadSse(gateway_->http_port(), path, 2, std::chrono::seconds(30));
  ASSERT_EQ(events.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    const Json data = Json::parse(events[i].data);
    EXPECT_EQ(data["partition"], 1);
    EXPECT_EQ(data["offset"], offsets[i + 1]);
    EXPECT_EQ(data["timestamp"], base + static_cast<int64_t>(i + 1) * 10'000);
    EXPECT_EQ(data["message"]["frame"], std::to_string(7101 + i));
  }
  // gRPC: from the third one's time exactly (at or after: the third is included).
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  v1::SubscribeRequest sub;
  sub.set_topic(*raw_);
  sub.set_format(v1::PAYLOAD_FORMAT_JSON);
  sub.set_timestamp_ms(base + 20'000);
  auto stub = gateway_->Stub();
  auto reader = stub->Subscribe(&ctx, sub);
  v1::SubscribeResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ASSERT_GE(resp.records_size(), 1);
  EXPECT_EQ(resp.records(0).offset(), offsets[2]);
  EXPECT_EQ(resp.records(0).timestamp_ms(), base + 20'000);
  ctx.TryCancel();
  reader->Finish();
  // A timestamp that is not a number is refused, naming the parameter.
  auto bad = gateway_->Http().Get(("/v1/topics/" + *raw_ + "/records?timestamp=soon").c_str());
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(bad->body.find("timestamp"), std::string::npos) << bad->body;
}

TEST_F(GatewayTest, ListAndDescribeTopics) {
  grpc::ClientContext ctx;
  v1::ListTopicsResponse list;
  ASSERT_TRUE(gateway_->Stub()->ListTopics(&ctx, {}, &list).ok());
  std::map<std::string, v1::TopicSummary> by_name;
  for (const auto& t : list.topics()) by_name[t.name()] = t;
  ASSERT_TRUE(by_name.count(*image_));
  EXPECT_EQ(by_name[*image_].type(), "protobuf.data.Image");
  EXPECT_EQ(by_name[*image_].encoding(), v1::ENCODING_SEED);
  EXPECT_EQ(by_name[*image_].partitions(), 4);
  EXPECT_TRUE(by_name[*image_].exists());
  EXPECT_EQ(by_name[*sensor_].type(), "acme.SensorReading");
  EXPECT_TRUE(by_name[*unbound_].type().empty());
  EXPECT_TRUE(by_name[*unbound_].exists());
  EXPECT_FALSE(by_name[*missing_].exists());

  grpc::ClientContext ctx2;
  v1::DescribeTopicRequest req;
  req.set_topic(*confluent_);
  v1::TopicDescription desc;
  ASSERT_TRUE(gateway_->Stub()->DescribeTopic(&ctx2, req, &desc).ok());
  EXPECT_EQ(desc.topic().type(), "protobuf.data.Image");
  EXPECT_EQ(desc.schema_id(), 7);
  ASSERT_EQ(desc.partitions_size(), 4);
  std::vector<std::string> files;
  for (const auto& f : desc.descriptors().file()) files.push_back(f.name());
  EXPECT_EQ(files, (std::vector<std::string>{"protobuf/common/MessageData.proto",
                                             "protobuf/data/ImageData.proto"}));

  grpc::ClientContext ctx3;
  req.set_topic("gw-no-such-topic");
  EXPECT_EQ(gateway_->Stub()->DescribeTopic(&ctx3, req, &desc).error_code(),
            grpc::StatusCode::NOT_FOUND);

  auto res = gateway_->Http().Get("/v1/topics");
  ASSERT_TRUE(res && res->status == 200);
  bool found = false;
  const Json topics = Json::parse(res->body)["topics"];
  for (const auto& t : topics) {
    if (t["name"] == *sensor_) {
      found = true;
      EXPECT_EQ(t["type"], "acme.SensorReading");
      EXPECT_EQ(t["encoding"], "raw");
    }
  }
  EXPECT_TRUE(found);
  res = gateway_->Http().Get(("/v1/topics/" + *image_).c_str());
  ASSERT_TRUE(res && res->status == 200);
  EXPECT_EQ(Json::parse(res->body)["partitions"].size(), 4u);
}

TEST_F(GatewayTest, DynamicTypeFromDescriptorSet) {
  auto res = gateway_->Http().Post(
      ("/v1/topics/" + *sensor_ + "/records").c_str(),
      R"({"sensor_id": "s-1", "value": 21.5, "unit": "CELSIUS", "samples": [1, 2, 3],
          "labels": {"room": "lab"}})",
      "application/json");
  ASSERT_TRUE(res && res->status == 200) << (res ? res->body : "");
  const Json result = Json::parse(res->body);
  const auto events = ReadSse(
      gateway_->http_port(),
      absl::StrCat("/v1/topics/", *sensor_, "/records?offsets=", result["partition"].get<int>(),
                   ":", result["offset"].get<int64_t>()),
      1, std::chrono::seconds(30));
  ASSERT_EQ(events.size(), 1u);
  const Json data = Json::parse(events[0].data);
  EXPECT_EQ(data["type"], "acme.SensorReading");
  EXPECT_EQ(data["message"]["sensor_id"], "s-1");
  EXPECT_EQ(data["message"]["labels"]["room"], "lab");
  EXPECT_EQ(data["envelope"]["uuid"], result["uuid"]);
}

TEST_F(GatewayTest, ReadinessMetricsAndOpenApi) {
  // grpc.health.v1 is checked by the Python tests (grpcio-health-checking); here the HTTP side.
  auto http = gateway_->Http();
  auto healthz = http.Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200);
  auto readyz = http.Get("/readyz");
  ASSERT_TRUE(readyz);
  EXPECT_EQ(readyz->status, 200) << readyz->body;
  auto metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_NE(metrics->body.find("mcorps_gateway_kafka_reachable 1"), std::string::npos);
  EXPECT_NE(metrics->body.find("messagecorps_messages_delivered_total"), std::string::npos);
  auto openapi = http.Get("/openapi.json");
  ASSERT_TRUE(openapi && openapi->status == 200);
  const Json doc = Json::parse(openapi->body, nullptr, false);
  ASSERT_TRUE(doc.is_object());
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_TRUE(doc["paths"].contains("/v1/topics/{topic}/records"));
}

TEST_F(GatewayTest, ResumeTokenContinuesOnAnotherGateway) {
  const std::string topic = *raw_;
  const auto start = HighWatermarks(topic);
  constexpr int kRecords = 24;
  for (int i = 0; i < kRecords; ++i) {
    v1::PublishRequest req;
    req.set_topic(topic);
    req.set_key("k" + std::to_string(i % 5));
    req.mutable_message()->PackFrom(SampleImage(7000 + i));
    Publish(req);
  }
  // Gateway A: the first 10.
  const auto first = SubscribeFrom(*gateway_, topic, start, 10);
  ASSERT_EQ(first.size(), 10u);
  // Gateway B, same secret: from the token of the 10th record.
  GatewayProcess b("gateway_b", *brokers_, BaseArgs(), dir_->path());
  ASSERT_TRUE(b.WaitReady());
  v1::SubscribeRequest req;
  req.set_topic(topic);
  req.set_resume_token(first.back().resume_token());
  const auto rest = Read(b, req, kRecords - 10);
  ASSERT_EQ(rest.size(), static_cast<size_t>(kRecords - 10));
  std::map<int32_t, int64_t> next = start;
  std::set<int64_t> frames;
  for (const auto* batch : {&first, &rest}) {
    for (const v1::Record& r : *batch) {
      EXPECT_EQ(r.offset(), next[r.partition()])
          << "gap or duplicate in partition " << r.partition();
      next[r.partition()] = r.offset() + 1;
      frames.insert(AsImage(r).frame());
    }
  }
  EXPECT_EQ(frames.size(), static_cast<size_t>(kRecords));

  // SSE resumes from Last-Event-ID on B as well.
  const auto events =
      ReadSse(b.http_port(), "/v1/topics/" + topic + "/records", kRecords - 10,
              std::chrono::seconds(30), {{"Last-Event-ID", first.back().resume_token()}});
  ASSERT_EQ(events.size(), static_cast<size_t>(kRecords - 10));
  EXPECT_EQ(Json::parse(events.back().data)["offset"], rest.back().offset());

  // Damaged or foreign tokens are refused.
  grpc::Status status;
  std::string token = first.back().resume_token();
  token[token.size() / 2] = token[token.size() / 2] == 'A' ? 'B' : 'A';
  req.set_resume_token(token);
  Read(b, req, 1, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("resume token"), std::string::npos);
  req.set_topic(*image_);
  req.set_resume_token(first.back().resume_token());
  Read(b, req, 1, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("another topic"), std::string::npos);
}

TEST_F(GatewayTest, GroupSubscriptionCommitsWhatWasDelivered) {
  const std::string group = UniqueName("gw-group");
  for (int i = 0; i < 12; ++i) {
    v1::PublishRequest req;
    req.set_topic(*confluent_);
    req.mutable_message()->PackFrom(SampleImage(8000 + i));
    Publish(req);
  }
  v1::SubscribeRequest req;
  req.set_topic(*confluent_);
  req.set_group(group);
  req.set_position(v1::START_POSITION_EARLIEST);
  // Everything, from the beginning (the group has no commits yet).
  int64_t total = 0;
  for (const auto& [p, high] : HighWatermarks(*confluent_)) total += high;
  const auto all = Read(*gateway_, req, static_cast<size_t>(total));
  ASSERT_EQ(all.size(), static_cast<size_t>(total));
  // Committed on the way (at the latest when the subscription closes): the group's lag drops to 0.
  ClientConfig config;
  config.brokers = *brokers_;
  auto admin = AdminClient::Create(config);
  ASSERT_TRUE(admin.ok());
  int64_t lag = -1;
  for (int i = 0; i < 100 && lag != 0; ++i) {
    auto group_lag = (*admin)->GroupLag(group, std::chrono::seconds(5));
    if (group_lag.ok()) {
      lag = 0;
      for (const PartitionLag& p : *group_lag)
        lag += p.committed < 0 ? p.high : p.high - p.committed;
    }
    if (lag != 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(lag, 0) << "the group's commits did not cover what was delivered";
  // The same group goes on after them.
  v1::PublishRequest more;
  more.set_topic(*confluent_);
  more.mutable_message()->PackFrom(SampleImage(8100));
  const v1::PublishResponse last = Publish(more);
  const auto next = Read(*gateway_, req, 1);
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].partition(), last.partition());
  EXPECT_EQ(next[0].offset(), last.offset());
}

// Offsets seen per partition: gaps, duplicates, order.
struct Tally {
  std::map<int32_t, int64_t> next;  // partition -> next offset expected
  int64_t received = 0, duplicates = 0, gaps = 0;
  void Add(const v1::Record& r) {
    ++received;
    auto it = next.find(r.partition());
    if (it == next.end()) it = next.emplace(r.partition(), r.offset()).first;
    if (r.offset() == it->second) {
      ++it->second;
    } else if (r.offset() < it->second) {
      ++duplicates;
    } else {
      ++gaps;
      it->second = r.offset() + 1;
    }
  }
  int64_t unique() const { return received - duplicates; }
};

// One SubscribeAcked stream: a thread reads records into a queue; the test takes them with a bound
// on time and writes acknowledgements.
class AckedStream {
 public:
  AckedStream(GatewayProcess& gw, const v1::SubscribeRequest& request) : stub_(gw.Stub()) {
    ctx_.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
    stream_ = stub_->SubscribeAcked(&ctx_);
    v1::SubscribeControl first;
    *first.mutable_subscribe() = request;
    EXPECT_TRUE(stream_->Write(first));
    reader_ = std::thread([this] {
      v1::SubscribeResponse resp;
      while (stream_->Read(&resp)) {
        std::lock_guard lock(mu_);
        for (const v1::Record& r : resp.records()) records_.push_back(r);
        cv_.notify_all();
      }
      std::lock_guard lock(mu_);
      ended_ = true;
      cv_.notify_all();
    });
  }
  ~AckedStream() {
    ctx_.TryCancel();
    reader_.join();
    stream_->Finish();
  }

  // The next `n` records (fewer when the time is up or the stream ended).
  std::vector<v1::Record> Take(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return ended_ || records_.size() >= n; });
    std::vector<v1::Record> out;
    while (!records_.empty() && out.size() < n) {
      out.push_back(std::move(records_.front()));
      records_.pop_front();
    }
    return out;
  }

  bool Ack(std::initializer_list<int64_t> offsets) {
    v1::SubscribeControl control;
    for (int64_t o : offsets) {
      v1::Ack* a = control.mutable_acks()->add_acks();
      a->set_partition(0);
      a->set_offset(o);
    }
    return stream_->Write(control);
  }

 private:
  std::unique_ptr<v1::Gateway::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::ClientReaderWriter<v1::SubscribeControl, v1::SubscribeResponse>> stream_;
  std::thread reader_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<v1::Record> records_;
  bool ended_ = false;
};

std::vector<int64_t> Offsets(const std::vector<v1::Record>& records) {
  std::vector<int64_t> out;
  for (const v1::Record& r : records) out.push_back(r.offset());
  return out;
}

// Issue 17 item 2: at most max_unacked outstanding (the stream pauses), commits only up to the
// highest contiguously acknowledged record, overdue records delivered again (delivery_count), and
// a new stream of the group continues after the last contiguous acknowledgement.
TEST_F(GatewayTest, AcknowledgedStreamPausesRedeliversAndCommitsContiguously) {
  const std::string group = UniqueName("gw-acked");
  PublishNumbered(*acked_, 10, 11000);
  auto wait_committed = [&](int64_t want) { return WaitCommitted(group, want); };

  v1::SubscribeRequest req;
  req.set_topic(*acked_);
  req.set_group(group);
  req.set_position(v1::START_POSITION_EARLIEST);
  req.set_max_unacked(4);
  req.set_ack_timeout_ms(3000);
  {
    AckedStream stream(*gateway_, req);
    // 30 s: joining a group (rebalance) on a loaded machine.
    auto first = stream.Take(4, std::chrono::seconds(30));
    ASSERT_EQ(Offsets(first), (std::vector<int64_t>{0, 1, 2, 3}));
    for (const v1::Record& r : first) EXPECT_EQ(r.delivery_count(), 1u);
    // Paused at 4 unacknowledged: nothing more within 1 s (a pump cycle is 200 ms).
    EXPECT_TRUE(stream.Take(1, std::chrono::seconds(1)).empty());

    // Acknowledge 0, 1 and 3 but not 2: the commit stops at 2; three more records come.
    ASSERT_TRUE(stream.Ack({0, 1, 3}));
    auto next = stream.Take(3, std::chrono::seconds(10));
    ASSERT_EQ(Offsets(next), (std::vector<int64_t>{4, 5, 6}));
    ASSERT_TRUE(stream.Ack({4, 5, 6}));  // at once: before their 3 s run out
    EXPECT_EQ(wait_committed(2), 2);

    // 2 is overdue after 3 s: delivered again (count 2) along with 7, 8, 9 (room for three).
    std::vector<v1::Record> later;
    bool redelivered = false;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while ((!redelivered || later.size() < 4) && std::chrono::steady_clock::now() < until) {
      for (v1::Record& r : stream.Take(1, std::chrono::seconds(1))) {
        if (r.offset() == 2) {
          EXPECT_EQ(r.delivery_count(), 2u);
          redelivered = true;
        }
        later.push_back(std::move(r));
      }
    }
    ASSERT_TRUE(redelivered) << "offset 2 was not delivered again";
    std::set<int64_t> later_offsets;
    for (const v1::Record& r : later) later_offsets.insert(r.offset());
    EXPECT_EQ(later_offsets, (std::set<int64_t>{2, 7, 8, 9}));
    EXPECT_EQ(Committed(group), 2) << "committed past an unacknowledged record";

    // Acknowledging 2 (and 7, 8, not 9) moves the commit to 9.
    ASSERT_TRUE(stream.Ack({2, 7, 8}));
    EXPECT_EQ(wait_committed(9), 9);
  }
  // A new stream of the group starts at the first unacknowledged record.
  AckedStream again(*gateway_, req);
  auto resumed = again.Take(1, std::chrono::seconds(30));
  ASSERT_EQ(Offsets(resumed), (std::vector<int64_t>{9}));
  EXPECT_EQ(resumed[0].delivery_count(), 1u);
}

TEST_F(GatewayTest, AcknowledgedStreamRefusesBadRequests) {
  auto stub = gateway_->Stub();
  {  // no group
    grpc::ClientContext ctx;
    auto stream = stub->SubscribeAcked(&ctx);
    v1::SubscribeControl first;
    first.mutable_subscribe()->set_topic(*acked_);
    stream->Write(first);
    stream->WritesDone();
    v1::SubscribeResponse resp;
    EXPECT_FALSE(stream->Read(&resp));
    const grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
    EXPECT_NE(s.error_message().find("group"), std::string::npos) << s.error_message();
  }
  {  // an ack first
    grpc::ClientContext ctx;
    auto stream = stub->SubscribeAcked(&ctx);
    v1::SubscribeControl first;
    first.mutable_ack()->set_offset(1);
    stream->Write(first);
    stream->WritesDone();
    v1::SubscribeResponse resp;
    EXPECT_FALSE(stream->Read(&resp));
    const grpc::Status s = stream->Finish();
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << s.error_message();
  }
}

// An acknowledged SSE stream (ack=true) read on a thread: its `stream` event gives the id that
// POST /v1/streams/{id}/acks takes.
class SseAckedReader {
 public:
  SseAckedReader(int port, std::string path) : client_("127.0.0.1", port) {
    client_.set_read_timeout(std::chrono::seconds(60));
    thread_ = std::jthread([this, path] {
      SseParser parser;
      client_.Get(path.c_str(), [&](const char* data, size_t size) {
        return parser.Feed(data, size, [&](const SseEvent& e) {
          std::lock_guard lock(mu_);
          events_.push_back(e);
          cv_.notify_all();
          return !stop_;
        });
      });
    });
  }
  ~SseAckedReader() {
    stop_ = true;
    client_.stop();
  }
  // The next `n` events (fewer when `timeout` passes first).
  std::vector<SseEvent> Take(size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return events_.size() >= n; });
    std::vector<SseEvent> out;
    while (!events_.empty() && out.size() < n) {
      out.push_back(std::move(events_.front()));
      events_.pop_front();
    }
    return out;
  }

 private:
  httplib::Client client_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<SseEvent> events_;
  std::atomic<bool> stop_{false};
  std::jthread thread_;
};

// offset and delivery_count of SSE `record` events.
std::vector<std::pair<int64_t, int>> OffsetsAndCounts(const std::vector<SseEvent>& events) {
  std::vector<std::pair<int64_t, int>> out;
  for (const auto& e : events) {
    const Json data = Json::parse(e.data, nullptr, false);
    EXPECT_EQ(e.event, "record") << e.data;
    if (data.is_discarded() || !data.contains("offset")) continue;
    out.emplace_back(data["offset"].get<int64_t>(), data.value("delivery_count", 0));
  }
  return out;
}

// Issue 17 item 2 over SSE: ?ack=true&group=G; acknowledgements by POST /v1/streams/{id}/acks.
// Same contract as SubscribeAcked: paused at max_unacked, overdue records again with a higher
// delivery_count, commits only up to the highest contiguous acknowledged record.
TEST_F(GatewayTest, SseAcknowledgedStreamPausesRedeliversAndCommitsContiguously) {
  const std::string group = UniqueName("gw-acked-sse");
  PublishNumbered(*acked_sse_, 10, 12000);
  auto wait_committed = [&](int64_t want) { return WaitCommitted(group, want); };
  httplib::Client http("127.0.0.1", gateway_->http_port());
  auto ack = [&](const std::string& id, std::vector<int64_t> offsets) {
    Json body = {{"acks", Json::array()}};
    for (int64_t o : offsets) body["acks"].push_back({{"partition", 0}, {"offset", o}});
    auto res = http.Post(("/v1/streams/" + id + "/acks").c_str(), body.dump(), "application/json");
    EXPECT_TRUE(res && res->status == 200) << (res ? res->body : "no response");
    return res ? Json::parse(res->body, nullptr, false) : Json();
  };
  const std::string path = "/v1/topics/" + *acked_sse_ + "/records?group=" + group +
                           "&start=earliest&ack=true&max_unacked=4&ack_timeout_ms=3000";
  std::string id;
  {
    SseAckedReader stream(gateway_->http_port(), path);
    // 30 s: joining a group (rebalance) on a loaded machine.
    auto opened = stream.Take(1, std::chrono::seconds(30));
    ASSERT_EQ(opened.size(), 1u);
    ASSERT_EQ(opened[0].event, "stream") << opened[0].data;
    id = Json::parse(opened[0].data)["stream_id"].get<std::string>();
    ASSERT_FALSE(id.empty());
    auto first = OffsetsAndCounts(stream.Take(4, std::chrono::seconds(30)));
    ASSERT_EQ(first, (std::vector<std::pair<int64_t, int>>{{0, 1}, {1, 1}, {2, 1}, {3, 1}}));
    // Paused at 4 unacknowledged: nothing more within 1 s.
    EXPECT_TRUE(stream.Take(1, std::chrono::seconds(1)).empty());

    // Acknowledge 0, 1 and 3 (and 1 again: ignored) but not 2: the commit stops at 2.
    Json answer = ack(id, {0, 1, 3, 1});
    EXPECT_EQ(answer["acknowledged"], 3) << answer.dump();
    EXPECT_EQ(answer["outstanding"], 1) << answer.dump();
    auto next = OffsetsAndCounts(stream.Take(3, std::chrono::seconds(10)));
    ASSERT_EQ(next, (std::vector<std::pair<int64_t, int>>{{4, 1}, {5, 1}, {6, 1}}));
    ack(id, {4, 5, 6});  // at once: before their 3 s run out
    EXPECT_EQ(wait_committed(2), 2);

    // 2 is overdue after 3 s: delivered again (count 2) along with 7, 8, 9.
    std::map<int64_t, int> later;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (later.size() < 4 && std::chrono::steady_clock::now() < until) {
      for (const auto& [offset, count] :
           OffsetsAndCounts(stream.Take(1, std::chrono::seconds(1)))) {
        later[offset] = std::max(later[offset], count);
      }
    }
    EXPECT_EQ(later, (std::map<int64_t, int>{{2, 2}, {7, 1}, {8, 1}, {9, 1}}));
    ack(id, {2, 7, 8});
    EXPECT_EQ(wait_committed(9), 9);
  }
  // The stream is gone with its connection: its id is unknown now (404, not a silent 200).
  for (int i = 0; i < 50; ++i) {
    auto res =
        http.Post(("/v1/streams/" + id + "/acks").c_str(), R"({"acks":[]})", "application/json");
    ASSERT_TRUE(res);
    if (res->status == 404) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    ASSERT_LT(i, 49) << "the closed stream still takes acknowledgements";
  }
  // A new stream of the group starts at the first unacknowledged record.
  SseAckedReader again(gateway_->http_port(), path);
  auto resumed = again.Take(2, std::chrono::seconds(30));
  ASSERT_EQ(resumed.size(), 2u);
  EXPECT_EQ(OffsetsAndCounts({resumed[1]}), (std::vector<std::pair<int64_t, int>>{{9, 1}}));
}

TEST_F(GatewayTest, SseAcknowledgementsRefuseBadRequests) {
  httplib::Client http("127.0.0.1", gateway_->http_port());
  const std::string base = "/v1/topics/" + *acked_sse_ + "/records?";
  for (const auto& [query, param] : std::vector<std::pair<std::string, std::string>>{
           {"ack=true", "ack"},  // no group
           {"group=g&ack=maybe", "ack"},
           {"group=g&max_unacked=3", "max_unacked"},
           {"group=g&ack=true&max_unacked=0", "max_unacked"},
           {"group=g&ack=true&ack_timeout_ms=x", "ack_timeout_ms"}}) {
    auto res = http.Get((base + query).c_str());
    ASSERT_TRUE(res) << query;
    EXPECT_EQ(res->status, 400) << query << ": " << res->body;
    EXPECT_NE(res->body.find(param), std::string::npos) << query << ": " << res->body;
  }
  auto unknown = http.Post("/v1/streams/00112233445566778899aabbccddeeff/acks", R"({"acks":[]})",
                           "application/json");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404) << unknown->body;
  // A malformed body on a live stream: 400 naming the element, nothing acknowledged.
  SseAckedReader stream(gateway_->http_port(),
                        base + "group=" + UniqueName("gw-acked-bad") + "&ack=true");
  auto opened = stream.Take(1, std::chrono::seconds(30));
  ASSERT_EQ(opened.size(), 1u);
  const std::string id = Json::parse(opened[0].data)["stream_id"].get<std::string>();
  for (const auto& [body, where] : std::vector<std::pair<std::string, std::string>>{
           {"not json", "acks"},
           {R"({"acks":{}})", "acks"},
           {R"({"acks":[{"partition":0}]})", "acks[0]"},
           {R"({"acks":[{"partition":0,"offset":1},{"offset":"2","partition":0}]})", "acks[1]"}}) {
    auto res = http.Post(("/v1/streams/" + id + "/acks").c_str(), body, "application/json");
    ASSERT_TRUE(res) << body;
    EXPECT_EQ(res->status, 400) << body << ": " << res->body;
    EXPECT_NE(res->body.find(where), std::string::npos) << body << ": " << res->body;
  }
}

// Issue 17 item 5: a subscriber that stops reading is flow-controlled, then ended with
// RESOURCE_EXHAUSTED and a resume token that continues without a gap; another subscriber of the
// same records meanwhile gets all of them; the gateway's memory stays bounded.
TEST_F(GatewayTest, SlowSubscriberIsEndedWithATokenWhileOthersKeepGoing) {
  const std::string topic = UniqueName("gw-slow");
  CreateTopicOrFail(*brokers_, topic, 2);
  TempDir dir("gateway_slow_");
  std::ofstream(dir.path() / "registry.conf") << topic << " protobuf.data.Image encoding=raw\n";
  // 256 KiB per stream, 2 s of a full buffer, 64 KiB prefetch per partition.
  GatewayProcess gw(
      "gateway_slow", *brokers_,
      {"--registry", (dir.path() / "registry.conf").string(), "--subscriber-buffer-bytes", "262144",
       "--slow-subscriber-timeout-ms", "2000", "--fetch-kbytes", "64"},
      dir.path());
  ASSERT_TRUE(gw.WaitReady());
  // 1,000 records of 16 KiB: 16 MiB, far more than every buffer on the way.
  constexpr int kRecords = 1000;
  {
    ProducerConfig pc;
    pc.brokers = *brokers_;
    auto producer = Producer::Create(pc);
    ASSERT_TRUE(producer.ok()) << producer.status();
    TopicOptions raw;
    raw.encoding = Encoding::kRaw;
    Topic<Image> t(topic, raw);
    for (int i = 0; i < kRecords; ++i) {
      Image image = SampleImage(i);
      image.set_image_data(std::string(16 << 10, static_cast<char>('a' + i % 26)));
      ASSERT_TRUE((*producer)->Send(t, image).ok());
    }
    ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(60)).ok());
  }
  const int64_t rss_before = RssKib(gw.process().pid());

  // The slow one: a channel with small HTTP/2 windows that reads nothing for 8 s.
  auto slow_stub = v1::Gateway::NewStub(gw.SlowChannel());
  v1::SubscribeRequest req;
  req.set_topic(topic);
  req.set_position(v1::START_POSITION_EARLIEST);
  grpc::ClientContext slow_ctx;
  // 90 s: far past the 2 s cut-off; a gateway that never cuts the stream fails here, not hangs.
  slow_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  auto slow = slow_stub->Subscribe(&slow_ctx, req);
  slow->WaitForInitialMetadata();

  // Meanwhile a reader of the same records gets all of them.
  const auto fast = Read(gw, req, kRecords);
  EXPECT_EQ(fast.size(), static_cast<size_t>(kRecords));
  int64_t rss_peak = RssKib(gw.process().pid());
  // 8 s: the 2 s timeout once the buffer is full, with room for a loaded machine.
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    rss_peak = std::max(rss_peak, RssKib(gw.process().pid()));
  }
  // What reached the client before the end, then the end with a token.
  Tally slow_tally;
  v1::SubscribeResponse resp;
  std::string last;
  while (slow->Read(&resp)) {
    for (const v1::Record& r : resp.records()) {
      slow_tally.Add(r);
      last = r.resume_token();
    }
  }
  const grpc::Status ended = slow->Finish();
  EXPECT_EQ(ended.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << ended.error_message();
  EXPECT_NE(ended.error_message().find("too slow"), std::string::npos) << ended.error_message();
  auto trailer = slow_ctx.GetServerTrailingMetadata().find("mcorps-resume-token");
  ASSERT_NE(trailer, slow_ctx.GetServerTrailingMetadata().end());
  const int64_t slow_before_end = slow_tally.received;
  EXPECT_LT(slow_before_end, kRecords) << "the slow stream was never held back";
  // The token continues exactly after the last record the client got.
  EXPECT_EQ(std::string(trailer->second.data(), trailer->second.size()), last);
  v1::SubscribeRequest resume;
  resume.set_topic(topic);
  resume.set_resume_token(last);
  for (const v1::Record& r : Read(gw, resume, kRecords - slow_tally.received)) slow_tally.Add(r);
  EXPECT_EQ(slow_tally.unique(), kRecords);
  EXPECT_EQ(slow_tally.gaps, 0);
  EXPECT_EQ(slow_tally.duplicates, 0);
  std::cout << "slow_subscriber_figures {\"records\": " << kRecords
            << ", \"slow_got_before_end\": " << slow_before_end
            << ", \"rss_before_kib\": " << rss_before << ", \"rss_peak_kib\": " << rss_peak << "}"
            << std::endl;
  // 16 MiB went through; the gateway holds at most the stream buffers, the consumers' prefetch
  // and one fetch per stream: far below the data (64 MiB: allocator slack on a loaded machine).
  EXPECT_LT(rss_peak - rss_before, 64 << 10) << "KiB";
}

TEST_F(GatewayTest, IdempotentRetryProducesOneRecord) {
  const auto before = HighWatermarks(*image_);
  v1::PublishRequest req;
  req.set_topic(*image_);
  req.set_partition(1);
  req.mutable_message()->PackFrom(SampleImage(9500));
  const std::string key = UniqueName("retry");
  // 1: the client gives up after 2 ms, before Kafka's acknowledgement (linger.ms alone is 5 ms);
  // the gateway goes on with the publish if the request reached it in time.
  {
    grpc::ClientContext ctx;
    ctx.AddMetadata("idempotency-key", key);
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(2));
    v1::PublishResponse resp;
    const grpc::Status s = gateway_->Stub()->Publish(&ctx, req, &resp);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED) << s.error_message();
  }
  // 2 and 3: the same record's coordinates each time (the 2nd is a duplicate when the 1st reached
  // the gateway, the 3rd always is), and one record in Kafka for the three publishes.
  std::vector<v1::PublishResponse> answers;
  for (int i = 0; i < 2; ++i) {
    grpc::ClientContext ctx;
    ctx.AddMetadata("idempotency-key", key);
    v1::PublishResponse resp;
    ASSERT_TRUE(gateway_->Stub()->Publish(&ctx, req, &resp).ok());
    answers.push_back(resp);
  }
  EXPECT_EQ(answers[0].offset(), answers[1].offset());
  EXPECT_EQ(answers[0].uuid(), answers[1].uuid());
  EXPECT_TRUE(answers[1].duplicate());
  std::cout << "first publish reached the gateway before the client gave up: "
            << (answers[0].duplicate() ? "yes" : "no") << "\n";
  auto after = HighWatermarks(*image_);
  EXPECT_EQ(after[1], before.at(1) + 1) << "one record for three publishes";
  EXPECT_EQ(answers[0].offset(), before.at(1));

  // REST: the Idempotency-Key header; without a key, the envelope uuid the client set.
  auto http = gateway_->Http();
  const std::string path = "/v1/topics/" + *image_ + "/records";
  const std::string body =
      R"({"frame": 9501, "_message_data": {"uuid": ")" + UniqueName("uuid") + R"("}})";
  auto first = http.Post(path.c_str(), body, "application/json");
  auto second = http.Post(path.c_str(), body, "application/json");
  ASSERT_TRUE(first && second && first->status == 200 && second->status == 200);
  EXPECT_EQ(Json::parse(first->body)["offset"], Json::parse(second->body)["offset"]);
  EXPECT_EQ(Json::parse(second->body)["duplicate"], true);
  const httplib::Headers keyed = {{"Idempotency-Key", UniqueName("rest")}};
  auto third = http.Post(path.c_str(), keyed, R"({"frame": 9502})", "application/json");
  auto fourth = http.Post(path.c_str(), keyed, R"({"frame": 9502})", "application/json");
  ASSERT_TRUE(third && fourth);
  EXPECT_EQ(Json::parse(third->body)["offset"], Json::parse(fourth->body)["offset"]);
  EXPECT_FALSE(Json::parse(third->body).contains("duplicate"));
}

TEST_F(GatewayTest, DrainEndsStreamsWithATokenAndExits) {
  GatewayProcess c("gateway_drain", *brokers_, BaseArgs(), dir_->path());
  ASSERT_TRUE(c.WaitReady());
  // A gRPC subscription that has delivered one record, and an SSE stream.
  v1::PublishRequest pub;
  pub.set_topic(*image_);
  pub.mutable_message()->PackFrom(SampleImage(9001));
  const v1::PublishResponse first = Publish(pub);
  grpc::ClientContext ctx;
  v1::SubscribeRequest req;
  req.set_topic(*image_);
  (*req.mutable_offsets()->mutable_offsets())[first.partition()] = first.offset();
  auto stub = c.Stub();
  auto reader = stub->Subscribe(&ctx, req);
  v1::SubscribeResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  std::string last_token = resp.records().rbegin()->resume_token();
  std::vector<SseEvent> sse_events;
  std::atomic<bool> sse_open{false};
  std::thread sse([&] {
    sse_events = ReadSse(c.http_port(), "/v1/topics/" + *image_ + "/records", 10,
                         std::chrono::seconds(30), {}, nullptr, &sse_open);
  });
  while (!sse_open) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const auto signalled = std::chrono::steady_clock::now();
  c.process().Terminate();
  while (reader->Read(&resp)) {
    if (resp.records_size() > 0) last_token = resp.records().rbegin()->resume_token();
  }
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::UNAVAILABLE) << s.error_message();
  auto it = ctx.GetServerTrailingMetadata().find("mcorps-resume-token");
  ASSERT_NE(it, ctx.GetServerTrailingMetadata().end());
  EXPECT_EQ(std::string(it->second.data(), it->second.size()), last_token);
  sse.join();
  ASSERT_FALSE(sse_events.empty());
  EXPECT_EQ(sse_events.back().event, "end");
  const Json end = Json::parse(sse_events.back().data);
  EXPECT_EQ(end["status"], "UNAVAILABLE");
  EXPECT_FALSE(end["resume_token"].get<std::string>().empty());
  // The drain is bounded by --drain-timeout-ms (10 s by default); idle, it is quick.
  ASSERT_TRUE(c.process().Wait(std::chrono::seconds(15)));
  EXPECT_EQ(c.process().exit_code(), 0) << c.process().Log();
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, std::chrono::seconds(12));
}

}  // namespace
}  // namespace messagecorps::testing
