// The gateway's logic without a broker: resume tokens (round trip, tampering, rotation, topic
// binding), the status -> HTTP mapping, reserved headers, the stream registry's drain, metrics.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/escaping.h"
#include "gateway/ack_tracker.h"
#include "gateway/client_sources.h"
#include "gateway/gateway_metrics.h"
#include "gateway/idempotency.h"
#include "gateway/publisher.h"
#include "gateway/resume_token.h"
#include "gateway/status_mapping.h"
#include "gateway/stream_registry.h"
#include "messagecorps/error.h"

namespace messagecorps::gateway {
namespace {

using ::testing::HasSubstr;

ResumeTokenCodec Codec(std::vector<std::string> secrets) {
  auto codec = ResumeTokenCodec::Create(std::move(secrets));
  EXPECT_TRUE(codec.ok()) << codec.status();
  return *std::move(codec);
}

TEST(ResumeToken, RoundTripsPositions) {
  const ResumeTokenCodec codec = Codec({"0123456789abcdef-first"});
  ResumePosition position;
  for (int p = 0; p < 12; ++p) position.next_offsets[p] = int64_t{1} << (p * 3);
  position.next_offsets[11] = 9'000'000'000'000;
  const std::string token = codec.Encode("VideoStream", position);
  EXPECT_LT(token.size(), 160u);
  for (char c : token)
    EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
  absl::StatusOr<ResumePosition> back = codec.Decode(token, "VideoStream");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->next_offsets, position.next_offsets);
  EXPECT_FALSE(back->group);
  position.group = true;
  back = codec.Decode(codec.Encode("VideoStream", position), "VideoStream");
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->group);
}

TEST(ResumeToken, EveryFlippedByteIsRefused) {
  const ResumeTokenCodec codec = Codec({"0123456789abcdef-first"});
  ResumePosition position;
  position.next_offsets = {{0, 10}, {1, 20}, {2, 30}};
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(codec.Encode("t", position), &raw));
  for (size_t i = 0; i < raw.size(); ++i) {
    std::string damaged = raw;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x01);
    const absl::Status s = codec.Decode(absl::WebSafeBase64Escape(damaged), "t").status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "byte " << i;
  }
}

TEST(ResumeToken, ProblemsAreNamed) {
  const ResumeTokenCodec codec = Codec({"0123456789abcdef-first"});
  const std::string token = codec.Encode("topic-a", ResumePosition{false, {{0, 5}}});
  EXPECT_THAT(std::string(codec.Decode(token, "topic-b").status().message()),
              HasSubstr("issued for another topic than topic-b"));
  EXPECT_THAT(std::string(codec.Decode("", "topic-a").status().message()), HasSubstr("empty"));
  EXPECT_THAT(std::string(codec.Decode("!!!", "topic-a").status().message()),
              HasSubstr("not base64url"));
  EXPECT_THAT(std::string(codec.Decode("AQID", "topic-a").status().message()),
              HasSubstr("truncated"));
  std::string raw;
  ASSERT_TRUE(absl::WebSafeBase64Unescape(token, &raw));
  raw[0] = 9;
  EXPECT_THAT(
      std::string(codec.Decode(absl::WebSafeBase64Escape(raw), "topic-a").status().message()),
      HasSubstr("unknown version 9"));
  // Another gateway's secret: refused.
  const ResumeTokenCodec other = Codec({"another-secret-of-enough-bytes"});
  EXPECT_THAT(std::string(other.Decode(token, "topic-a").status().message()),
              HasSubstr("signature does not verify"));
  // A random codec accepts its own tokens only.
  const ResumeTokenCodec random = ResumeTokenCodec::Random();
  EXPECT_TRUE(random.Decode(random.Encode("x", {}), "x").ok());
  EXPECT_FALSE(ResumeTokenCodec::Random().Decode(random.Encode("x", {}), "x").ok());
}

TEST(ResumeToken, SecretRotation) {
  const ResumeTokenCodec old_codec = Codec({"the-old-secret-0123456789"});
  const ResumeTokenCodec rotated =
      Codec({"the-new-secret-0123456789", "the-old-secret-0123456789"});
  const ResumeTokenCodec new_only = Codec({"the-new-secret-0123456789"});
  const std::string old_token = old_codec.Encode("t", ResumePosition{false, {{0, 1}}});
  EXPECT_TRUE(rotated.Decode(old_token, "t").ok());    // still accepted during the rotation
  EXPECT_FALSE(new_only.Decode(old_token, "t").ok());  // refused once the old secret is gone
  EXPECT_TRUE(new_only.Decode(rotated.Encode("t", {}), "t").ok());  // the first secret signs
}

TEST(ResumeToken, SecretsFromFileAreChecked) {
  EXPECT_EQ(ResumeTokenCodec::Create({}).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(ResumeTokenCodec::Create({"short"}).status().message()),
              HasSubstr("at least 16"));
  const std::string path = ::testing::TempDir() + "gw_secret_" + std::to_string(getpid());
  std::ofstream(path) << "# comment\n\n  a-secret-long-enough-for-hmac  \n";
  auto codec = ResumeTokenCodec::FromFile(path);
  ASSERT_TRUE(codec.ok()) << codec.status();
  EXPECT_TRUE(Codec({"a-secret-long-enough-for-hmac"}).Decode(codec->Encode("t", {}), "t").ok());
  std::ofstream(path) << "# only a comment\n";
  EXPECT_EQ(ResumeTokenCodec::FromFile(path).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ResumeTokenCodec::FromFile(path + ".missing").status().code(),
            absl::StatusCode::kNotFound);
  std::remove(path.c_str());
}

TEST(StatusMapping, GrpcCodesToHttp) {
  EXPECT_EQ(HttpStatusFor(absl::OkStatus()), 200);
  EXPECT_EQ(HttpStatusFor(absl::InvalidArgumentError("")), 400);
  EXPECT_EQ(HttpStatusFor(absl::FailedPreconditionError("")), 400);
  EXPECT_EQ(HttpStatusFor(absl::UnauthenticatedError("")), 401);
  EXPECT_EQ(HttpStatusFor(absl::PermissionDeniedError("")), 403);
  EXPECT_EQ(HttpStatusFor(absl::NotFoundError("")), 404);
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError("")), 429);
  EXPECT_EQ(HttpStatusFor(
                MakeError(absl::StatusCode::kResourceExhausted, "big", ErrorReason::kDecodeLimit)),
            413);
  EXPECT_EQ(HttpStatusFor(MakeError(absl::StatusCode::kResourceExhausted, "big",
                                    ErrorReason::kRecordTooLarge)),
            413);
  EXPECT_EQ(HttpStatusFor(absl::UnavailableError("")), 503);
  EXPECT_EQ(HttpStatusFor(absl::DeadlineExceededError("")), 504);
  EXPECT_EQ(HttpStatusFor(absl::UnimplementedError("")), 501);
  EXPECT_EQ(HttpStatusFor(absl::InternalError("")), 500);
}

TEST(Publisher, ReservedHeaders) {
  for (const char* name : {"ce_id", "CE_TYPE", "content-type", "traceparent", "tracestate",
                           "mcorps-principal", "Mcorps-Encoding"}) {
    EXPECT_TRUE(IsReservedHeader(name)) << name;
  }
  for (const char* name : {"x-app", "cesium", "tenant", "mcorps"}) {
    EXPECT_FALSE(IsReservedHeader(name)) << name;
  }
}

TEST(StreamRegistry, DrainStopsStreamsAndWaitsForThreads) {
  StreamRegistry registry;
  std::atomic<int> stopped{0};
  const uint64_t a = registry.Register([&] { ++stopped; });
  const uint64_t b = registry.Register([&] { ++stopped; });
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  std::atomic<bool> release{false};
  ASSERT_TRUE(registry.Spawn([&] {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }));
  EXPECT_EQ(registry.streams(), 2u);
  EXPECT_EQ(registry.threads(), 1u);
  registry.Drain();
  EXPECT_EQ(stopped, 2);
  EXPECT_TRUE(registry.draining());
  EXPECT_EQ(registry.Register([] {}), 0u);  // refused while draining
  EXPECT_FALSE(registry.Spawn([] {}));      // likewise
  EXPECT_FALSE(registry.WaitIdle(std::chrono::milliseconds(20)));
  registry.Unregister(a);
  registry.Unregister(b);
  release = true;
  EXPECT_TRUE(registry.WaitIdle(std::chrono::seconds(10)));
  EXPECT_EQ(registry.threads(), 0u);
}

TEST(GatewayMetrics, RendersPrometheusText) {
  GatewayMetrics metrics;
  metrics.CountRequest(Api::kGrpc, "Publish", absl::StatusCode::kOk);
  metrics.CountRequest(Api::kGrpc, "Publish", absl::StatusCode::kOk);
  metrics.CountRequest(Api::kHttp, "Publish", absl::StatusCode::kInvalidArgument);
  metrics.ObservePublishSeconds(0.0015);
  metrics.ObservePublishSeconds(7);
  metrics.StreamOpened(StreamKind::kSse);
  metrics.CountPushed(Api::kGrpc, 5);
  metrics.SetKafkaReachable(true);
  EXPECT_EQ(metrics.Requests(Api::kGrpc, "Publish", absl::StatusCode::kOk), 2u);
  const std::string text = metrics.RenderPrometheus();
  EXPECT_THAT(
      text, HasSubstr(R"(mcorps_gateway_requests_total{api="grpc",code="OK",method="Publish"} 2)"));
  EXPECT_THAT(
      text,
      HasSubstr(
          R"(mcorps_gateway_requests_total{api="http",code="INVALID_ARGUMENT",method="Publish"} 1)"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_publish_seconds_bucket{le=\"0.001\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_publish_seconds_bucket{le=\"0.002\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_publish_seconds_bucket{le=\"+Inf\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_publish_seconds_count 2\n"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_active_streams{kind=\"sse\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_records_pushed_total{api=\"grpc\"} 5\n"));
  EXPECT_THAT(text, HasSubstr("mcorps_gateway_kafka_reachable 1\n"));
}

PublishResult Result(int64_t offset) {
  PublishResult r;
  r.topic = "t";
  r.partition = 2;
  r.offset = offset;
  r.uuid = "u";
  return r;
}

TEST(IdempotencyCache, FirstPublishesRetriesGetItsResult) {
  IdempotencyCache cache({std::chrono::minutes(10), 100});
  std::vector<absl::StatusOr<PublishResult>> seen;
  auto record = [&](absl::StatusOr<PublishResult> r) { seen.push_back(std::move(r)); };
  EXPECT_EQ(cache.Begin("k", record), IdempotencyCache::Action::kPublish);
  // A retry while the first is in flight waits for it.
  EXPECT_EQ(cache.Begin("k", record), IdempotencyCache::Action::kWaiting);
  EXPECT_TRUE(seen.empty());
  cache.Complete("k", Result(41));
  ASSERT_EQ(seen.size(), 1u);
  ASSERT_TRUE(seen[0].ok());
  EXPECT_EQ(seen[0]->offset, 41);
  EXPECT_TRUE(seen[0]->duplicate);
  // A retry afterwards is answered at once with the same result.
  EXPECT_EQ(cache.Begin("k", record), IdempotencyCache::Action::kAnswered);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1]->offset, 41);
  EXPECT_TRUE(seen[1]->duplicate);
  // Another key publishes.
  EXPECT_EQ(cache.Begin("other", record), IdempotencyCache::Action::kPublish);
}

TEST(IdempotencyCache, AFailureIsForgottenSoARetryPublishes) {
  IdempotencyCache cache({std::chrono::minutes(10), 100});
  std::vector<absl::StatusOr<PublishResult>> seen;
  auto record = [&](absl::StatusOr<PublishResult> r) { seen.push_back(std::move(r)); };
  ASSERT_EQ(cache.Begin("k", record), IdempotencyCache::Action::kPublish);
  ASSERT_EQ(cache.Begin("k", record), IdempotencyCache::Action::kWaiting);
  cache.Complete("k", absl::DeadlineExceededError("Kafka did not answer"));
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(cache.Begin("k", record), IdempotencyCache::Action::kPublish);
  EXPECT_EQ(cache.size(), 1u);
}

TEST(IdempotencyCache, BoundedByTimeAndCount) {
  auto now = std::chrono::steady_clock::time_point{};
  IdempotencyCache cache({std::chrono::seconds(60), 3}, [&] { return now; });
  auto ignore = [](absl::StatusOr<PublishResult>) {};
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(cache.Begin("k" + std::to_string(i), ignore), IdempotencyCache::Action::kPublish);
    cache.Complete("k" + std::to_string(i), Result(i));
  }
  EXPECT_EQ(cache.size(), 3u);
  // A fourth key pushes the oldest out: a retry of k0 publishes again.
  ASSERT_EQ(cache.Begin("k3", ignore), IdempotencyCache::Action::kPublish);
  cache.Complete("k3", Result(3));
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.Begin("k0", ignore), IdempotencyCache::Action::kPublish);
  EXPECT_EQ(cache.Begin("k1", ignore), IdempotencyCache::Action::kAnswered);
  // Past the window every result is gone.
  now += std::chrono::seconds(61);
  EXPECT_EQ(cache.Begin("k2", ignore), IdempotencyCache::Action::kPublish);
  EXPECT_EQ(cache.Begin("k3", ignore), IdempotencyCache::Action::kPublish);
}

TEST(AckTracker, CommitsOnlyTheContiguousAcknowledgedPrefix) {
  AckTracker<std::string> acks(
      {/*max_unacked=*/3, /*max_unacked_bytes=*/1000, std::chrono::milliseconds(100)});
  for (int64_t o = 10; o < 13; ++o) acks.Delivered(0, o, "r" + std::to_string(o), 10);
  EXPECT_FALSE(acks.HasRoom());
  EXPECT_TRUE(acks.Ack(0, 11));
  EXPECT_TRUE(acks.TakeCommittable().empty());  // 10 is still outstanding
  EXPECT_TRUE(acks.HasRoom());
  EXPECT_FALSE(acks.Ack(0, 11));  // twice: ignored
  EXPECT_FALSE(acks.Ack(0, 99));  // never delivered: ignored
  EXPECT_TRUE(acks.Ack(0, 10));
  EXPECT_EQ(acks.TakeCommittable(), (std::map<int32_t, int64_t>{{0, 12}}));
  EXPECT_EQ(acks.outstanding(), 1u);
  EXPECT_EQ(acks.outstanding_bytes(), 10u);
}

TEST(AckTracker, OverdueRecordsAreDeliveredAgainAndRevokedOnesForgotten) {
  auto now = std::chrono::steady_clock::time_point{};
  AckTracker<std::string> acks({10, 1000, std::chrono::milliseconds(100)}, [&] { return now; });
  acks.Delivered(0, 1, "a", 1);
  acks.Delivered(1, 5, "b", 1);
  now += std::chrono::milliseconds(99);
  EXPECT_TRUE(acks.TakeExpired().empty());
  now += std::chrono::milliseconds(1);
  auto expired = acks.TakeExpired();
  ASSERT_EQ(expired.size(), 2u);
  EXPECT_EQ(expired[0].payload, "a");
  EXPECT_EQ(expired[0].delivery_count, 2u);
  EXPECT_TRUE(acks.TakeExpired().empty());  // its timer restarted
  acks.Forget({1});
  EXPECT_EQ(acks.outstanding(), 1u);
  now += std::chrono::milliseconds(100);
  expired = acks.TakeExpired();
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].delivery_count, 3u);
  EXPECT_EQ(acks.redeliveries(), 3u);
}

// The client configuration's sources and their precedence: -X over -F (later files over earlier)
// over $MESSAGECORPS_CLIENT_CONFIG; brokers from --brokers, bootstrap.servers,
// $MESSAGECORPS_BROKERS.
class ClientSourcesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gateway_client_sources_" + std::to_string(getpid()));
    std::filesystem::create_directories(dir_);
    unsetenv(kClientConfigEnvironmentVariable);
    unsetenv("MESSAGECORPS_BROKERS");
  }
  void TearDown() override {
    unsetenv(kClientConfigEnvironmentVariable);
    unsetenv("MESSAGECORPS_BROKERS");
    std::filesystem::remove_all(dir_);
  }
  std::string File(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ClientSourcesTest, PrecedenceXOverFOverEnvironment) {
  setenv(kClientConfigEnvironmentVariable,
         File("env.properties",
              "bootstrap.servers=env:9092\nsecurity.protocol=SASL_SSL\nsasl.mechanism=PLAIN\n"
              "client.id=env\nacks=1\n")
             .c_str(),
         1);
  ClientConfigSources sources;
  sources.property_files = {File("a.properties", "client.id=a\nacks=all\nlinger.ms=7\n"),
                            File("b.properties", "client.id=b\n")};
  sources.properties = {"client.id=x", "linger.ms=5", "linger.ms=6"};
  auto config = LoadClientConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->brokers, "env:9092");  // only the environment's file names brokers
  EXPECT_EQ(config->properties.count("bootstrap.servers"), 0u);
  EXPECT_EQ(config->properties.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(config->properties.at("client.id"), "x");
  EXPECT_EQ(config->properties.at("acks"), "all");
  EXPECT_EQ(config->properties.at("linger.ms"), "6");

  sources.brokers = "cli:9092";  // --brokers wins over every bootstrap.servers
  sources.properties.push_back("bootstrap.servers=x:9092");
  EXPECT_EQ(LoadClientConfig(sources)->brokers, "cli:9092");
  sources.brokers.clear();
  EXPECT_EQ(LoadClientConfig(sources)->brokers, "x:9092");

  sources.use_environment = false;  // tests that must not read it
  sources.properties.pop_back();
  EXPECT_EQ(LoadClientConfig(sources).status().code(), absl::StatusCode::kInvalidArgument);
  setenv("MESSAGECORPS_BROKERS", "fallback:9092", 1);
  sources.use_environment = true;
  unsetenv(kClientConfigEnvironmentVariable);
  EXPECT_EQ(LoadClientConfig(sources)->brokers, "fallback:9092");
}

TEST_F(ClientSourcesTest, ErrorsNameTheSourceNeverAValue) {
  ClientConfigSources sources;
  sources.brokers = "b:9092";
  setenv(kClientConfigEnvironmentVariable, (dir_ / "missing.properties").c_str(), 1);
  auto missing = LoadClientConfig(sources);
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr("$MESSAGECORPS_CLIENT_CONFIG"));
  unsetenv(kClientConfigEnvironmentVariable);

  sources.property_files = {
      File("bad.properties", "sasl.password=hunter2-secret\nsasl.password hunter3-secret\n")};
  auto bad = LoadClientConfig(sources);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("bad.properties:2"));
  EXPECT_THAT(std::string(bad.status().message()), ::testing::Not(HasSubstr("hunter")));

  sources.property_files.clear();
  sources.properties = {"sasl.password"};  // a -X without '=' (a value typed as a key)
  auto x = LoadClientConfig(sources);
  EXPECT_EQ(x.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(x.status().message(), HasSubstr("-X"));

  sources.properties = {"sasl.password=hunter4-secret"};
  sources.brokers.clear();
  auto none = LoadClientConfig(sources);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(), HasSubstr("no brokers"));
  EXPECT_THAT(std::string(none.status().message()), ::testing::Not(HasSubstr("hunter")));
}

}  // namespace
}  // namespace messagecorps::gateway
