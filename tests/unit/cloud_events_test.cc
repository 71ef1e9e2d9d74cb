#include "messagecorps/cloud_events.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <vector>

#include "messagecorps/producer.h"

// Counts heap allocations while enabled, to check that emitting headers allocates nothing.
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

constexpr std::string_view kUuid = "5e8e6720-e97c-11f1-b954-02fc00000001";
constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

// A fully fixed envelope: known uuid, time and trace.
Envelope FixedEnvelope() {
  using namespace std::chrono;
  Envelope env;
  std::memcpy(env.uuid.data(), kUuid.data(), kUuid.size());
  env.time = sys_days{year{2018} / July / 30} + 8h + 26min + 31s + microseconds{123456};
  FormatIsoDate(env.time, env.iso_date);
  env.timestamp = duration<double>(env.time.time_since_epoch()).count();
  env.trace = *TraceContext::FromTraceparent(kTraceparent);
  env.service = "camera";
  return env;
}

Headers Emit(const Envelope& env, std::string_view type, Encoding encoding,
             std::string_view source) {
  Headers headers;
  ForEachEnvelopeHeader(env, type, encoding, source,
                        [&headers](std::string_view key, std::string_view value) {
                          headers.emplace_back(std::string(key), std::string(value));
                        });
  return headers;
}

bool HasProblemAbout(const ReceivedHeaders& r, std::string_view needle) {
  for (const std::string& p : r.problems) {
    if (p.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(CloudEvents, ContentTypes) {
  EXPECT_EQ(ContentTypeFor(Encoding::kRaw), "application/x-protobuf");
  EXPECT_EQ(ContentTypeFor(Encoding::kSeed), "application/vnd.messagecorps.seed+zlib");
  EXPECT_EQ(ContentTypeFor(Encoding::kConfluent), "application/vnd.confluent.protobuf");
}

TEST(CloudEvents, Source) {
  EXPECT_EQ(CloudEventsSource("camera"), "/messagecorps/camera");
  EXPECT_EQ(CloudEventsSource("NOTSET"), "/messagecorps/NOTSET");
  EXPECT_EQ(CloudEventsSource("svc-1.a_b~c:d@e"), "/messagecorps/svc-1.a_b~c:d@e");
  EXPECT_EQ(CloudEventsSource("my svc/x%"), "/messagecorps/my%20svc%2Fx%25");
  EXPECT_EQ(CloudEventsSource("caf\xc3\xa9"), "/messagecorps/caf%C3%A9");
  EXPECT_EQ(CloudEventsSource(""), "/messagecorps/");
}

TEST(CloudEvents, EmitsTheExactHeaderList) {
  Headers headers =
      Emit(FixedEnvelope(), "protobuf.data.Image", Encoding::kSeed, "/messagecorps/camera");
  const Headers expected = {
      {"ce_specversion", "1.0"},
      {"ce_id", "5e8e6720-e97c-11f1-b954-02fc00000001"},
      {"ce_source", "/messagecorps/camera"},
      {"ce_type", "protobuf.data.Image"},
      {"ce_time", "2018-07-30T08:26:31.123456+00:00"},
      {"content-type", "application/vnd.messagecorps.seed+zlib; proto=protobuf.data.Image"},
      {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
      {"mcorps-encoding", "seed"},
  };
  EXPECT_EQ(headers, expected);
}

TEST(CloudEvents, RawAndConfluentHeaders) {
  Headers raw = Emit(FixedEnvelope(), "protobuf.predictions.Prediction", Encoding::kRaw, "/s");
  EXPECT_EQ(FindHeader(raw, header::kContentType),
            "application/x-protobuf; proto=protobuf.predictions.Prediction");
  EXPECT_EQ(FindHeader(raw, header::kEncoding), "raw");

  Headers confluent = Emit(FixedEnvelope(), "protobuf.data.Image", Encoding::kConfluent, "/s");
  EXPECT_EQ(FindHeader(confluent, header::kContentType),
            "application/vnd.confluent.protobuf; proto=protobuf.data.Image");
  EXPECT_EQ(FindHeader(confluent, header::kEncoding), "confluent");
}

TEST(CloudEvents, LongTypeNameStillFormsTheContentType) {
  std::string type = "pkg." + std::string(400, 'T');
  Headers headers = Emit(FixedEnvelope(), type, Encoding::kRaw, "/s");
  EXPECT_EQ(FindHeader(headers, header::kContentType), "application/x-protobuf; proto=" + type);
  EXPECT_EQ(FindHeader(headers, header::kType), type);
}

TEST(CloudEvents, OmitsWhatIsUnknown) {
  Envelope env = FixedEnvelope();
  env.trace = TraceContext();
  Headers headers = Emit(env, "", Encoding::kRaw, "");
  const Headers expected = {
      {"ce_specversion", "1.0"},
      {"ce_id", "5e8e6720-e97c-11f1-b954-02fc00000001"},
      {"ce_time", "2018-07-30T08:26:31.123456+00:00"},
      {"content-type", "application/x-protobuf"},
      {"mcorps-encoding", "raw"},
  };
  EXPECT_EQ(headers, expected);
}

TEST(CloudEvents, EmittingAllocatesNothing) {
  Envelope env = FixedEnvelope();
  const std::string source = CloudEventsSource("camera");
  size_t bytes = 0;
  int count = 0;
  const std::function<void(std::string_view, std::string_view)> emit = [&](std::string_view key,
                                                                           std::string_view value) {
    bytes += key.size() + value.size();
    ++count;
  };
  g_allocations = 0;
  g_count_allocations = true;
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    ForEachEnvelopeHeader(env, "protobuf.data.Image", e, source, emit);
  }
  g_count_allocations = false;
  EXPECT_EQ(g_allocations.load(), 0);
  EXPECT_EQ(count, 24);
  EXPECT_GT(bytes, 0u);
}

// HeaderMode::kCompact's set: the three a messagecorps consumer reads, with the same values as in
// the full set, and ParseHeaders understands it.
TEST(CloudEvents, CompactSetIsTypeTraceAndEncoding) {
  Envelope env = FixedEnvelope();
  Headers full = Emit(env, "protobuf.data.Image", Encoding::kRaw, "/messagecorps/camera");
  Headers compact;
  ForEachCompactHeader(env, "protobuf.data.Image", Encoding::kRaw,
                       [&compact](std::string_view key, std::string_view value) {
                         compact.emplace_back(std::string(key), std::string(value));
                       });
  ASSERT_EQ(compact.size(), 3u);
  EXPECT_EQ(compact[0].first, "ce_type");
  EXPECT_EQ(compact[1].first, "traceparent");
  EXPECT_EQ(compact[2].first, "mcorps-encoding");
  for (const auto& [key, value] : compact) EXPECT_EQ(FindHeader(full, key), value) << key;
  ReceivedHeaders r = ParseHeaders(compact);
  EXPECT_TRUE(r.problems.empty());
  EXPECT_EQ(r.encoding, Encoding::kRaw);
  EXPECT_EQ(r.type, "protobuf.data.Image");
  ASSERT_TRUE(r.trace.has_value());
  EXPECT_EQ(r.trace->trace_id(), env.trace.trace_id());
  EXPECT_FALSE(r.id.has_value());
}

TEST(CloudEvents, FindHeaderTakesTheLast) {
  Headers headers = {{"a", "1"}, {"b", "2"}, {"a", "3"}};
  EXPECT_EQ(FindHeader(headers, "a"), "3");
  EXPECT_EQ(FindHeader(headers, "b"), "2");
  EXPECT_EQ(FindHeader(headers, "c"), std::nullopt);
  EXPECT_EQ(FindHeader(headers, "A"), std::nullopt) << "Kafka header keys are case-sensitive";
  EXPECT_EQ(FindHeader({}, "a"), std::nullopt);
}

TEST(CloudEvents, ParsesWhatItEmits) {
  Envelope env = FixedEnvelope();
  ReceivedHeaders r =
      ParseHeaders(Emit(env, "protobuf.data.Image", Encoding::kConfluent, "/messagecorps/camera"));
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_EQ(r.encoding, Encoding::kConfluent);
  EXPECT_EQ(r.type, "protobuf.data.Image");
  EXPECT_EQ(r.id, "5e8e6720-e97c-11f1-b954-02fc00000001");
  EXPECT_EQ(r.source, "/messagecorps/camera");
  EXPECT_EQ(r.time, "2018-07-30T08:26:31.123456+00:00");
  ASSERT_TRUE(r.trace.has_value());
  EXPECT_EQ(r.trace->trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(r.trace->span_id(), "00f067aa0ba902b7");
  EXPECT_TRUE(r.trace->sampled());
}

TEST(CloudEvents, NoHeadersAsFromTheOriginal) {
  ReceivedHeaders r = ParseHeaders({});
  EXPECT_FALSE(r.encoding.has_value());
  EXPECT_FALSE(r.type.has_value());
  EXPECT_FALSE(r.id.has_value());
  EXPECT_FALSE(r.source.has_value());
  EXPECT_FALSE(r.time.has_value());
  EXPECT_FALSE(r.trace.has_value());
  EXPECT_TRUE(r.problems.empty());
}

TEST(CloudEvents, UnrelatedHeadersAreIgnored) {
  ReceivedHeaders r = ParseHeaders({{"x-custom", "1"}, {"tracestate", "congo=t61rcWkgMzE"}});
  EXPECT_FALSE(r.encoding.has_value());
  EXPECT_FALSE(r.trace.has_value());
  EXPECT_TRUE(r.problems.empty());
}

TEST(CloudEvents, ContentTypeAloneGivesEncodingAndType) {
  ReceivedHeaders r =
      ParseHeaders({{"content-type", "application/x-protobuf; proto=protobuf.data.Image"}});
  EXPECT_EQ(r.encoding, Encoding::kRaw);
  EXPECT_EQ(r.type, "protobuf.data.Image");
  EXPECT_TRUE(r.problems.empty());

  // Media types are case-insensitive; parameters may be quoted and spaced; others are ignored.
  r = ParseHeaders({{"content-type",
                     "Application/VND.MessageCorps.Seed+Zlib ;charset=binary;  PROTO=\"a.B\" "}});
  EXPECT_EQ(r.encoding, Encoding::kSeed);
  EXPECT_EQ(r.type, "a.B");
  EXPECT_TRUE(r.problems.empty());

  r = ParseHeaders({{"content-type", "application/vnd.confluent.protobuf"}});
  EXPECT_EQ(r.encoding, Encoding::kConfluent);
  EXPECT_FALSE(r.type.has_value());
}

TEST(CloudEvents, EncodingHeaderWinsOverContentType) {
  ReceivedHeaders r =
      ParseHeaders({{"content-type", "application/x-protobuf"}, {"mcorps-encoding", "SEED"}});
  EXPECT_EQ(r.encoding, Encoding::kSeed);
  EXPECT_TRUE(HasProblemAbout(r, "disagrees")) << "a mismatch is reported";
  ASSERT_EQ(r.problems.size(), 1u);
}

TEST(CloudEvents, MalformedValuesAreProblemsNotFailures) {
  ReceivedHeaders r = ParseHeaders({
      {"ce_specversion", "0.3"},
      {"ce_id", "id-1"},
      {"ce_type", "protobuf.data.Image"},
      {"content-type", "application/x-protobuf; proto=protobuf.predictions.Prediction"},
      {"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"},
      {"mcorps-encoding", "gzip"},
  });
  EXPECT_TRUE(HasProblemAbout(r, "ce_specversion"));
  EXPECT_TRUE(HasProblemAbout(r, "traceparent"));
  EXPECT_TRUE(HasProblemAbout(r, "mcorps-encoding \"gzip\""));
  EXPECT_TRUE(HasProblemAbout(r, "proto="));
  EXPECT_EQ(r.problems.size(), 4u);
  EXPECT_FALSE(r.trace.has_value());
  EXPECT_EQ(r.encoding, Encoding::kRaw) << "falls back to the content-type";
  EXPECT_EQ(r.type, "protobuf.data.Image") << "ce_type wins over proto=";
  EXPECT_EQ(r.id, "id-1");
}

TEST(CloudEvents, UnknownContentTypeIsReported) {
  ReceivedHeaders r = ParseHeaders({{"content-type", "application/json"}});
  EXPECT_FALSE(r.encoding.has_value());
  EXPECT_TRUE(HasProblemAbout(r, "application/json"));
}

TEST(CloudEvents, EmptyTypeIsAProblem) {
  ReceivedHeaders r = ParseHeaders({{"ce_type", ""}});
  EXPECT_FALSE(r.type.has_value());
  EXPECT_TRUE(HasProblemAbout(r, "ce_type"));
}

TEST(CloudEvents, RepeatedHeadersUseTheLast) {
  ReceivedHeaders r = ParseHeaders({
      {"traceparent", "garbage"},
      {"mcorps-encoding", "seed"},
      {"traceparent", std::string(kTraceparent)},
      {"mcorps-encoding", "raw"},
  });
  EXPECT_TRUE(r.problems.empty()) << r.problems.front();
  EXPECT_EQ(r.encoding, Encoding::kRaw);
  ASSERT_TRUE(r.trace.has_value());
  EXPECT_EQ(r.trace->span_id(), "00f067aa0ba902b7");
}

TEST(CloudEvents, ProblemQuotesAreBoundedAndEscaped) {
  std::string huge = "\x01" + std::string(10000, 'a');
  ReceivedHeaders r = ParseHeaders({{"traceparent", huge}});
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_LT(r.problems[0].size(), 400u);
  EXPECT_NE(r.problems[0].find("\\001"), std::string::npos) << r.problems[0];
}

// Which header set a producer sends, by name (mcorps produce --header-mode, the benchmarks).
TEST(HeaderMode, NamesParseBackCaseInsensitivelyAndUnknownOnesAreRefused) {
  for (HeaderMode mode :
       {HeaderMode::kTraceparent, HeaderMode::kStandard, HeaderMode::kCompact, HeaderMode::kNone}) {
    auto parsed = ParseHeaderMode(HeaderModeName(mode));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, mode);
  }
  auto upper = ParseHeaderMode("COMPACT");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, HeaderMode::kCompact);
  for (const char* bad : {"", "full", "compact ", "nonee"}) {
    auto parsed = ParseHeaderMode(bad);
    ASSERT_FALSE(parsed.ok()) << bad;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(parsed.status().message().find("traceparent, standard, compact or none"),
              std::string::npos)
        << parsed.status();
  }
}

}  // namespace
}  // namespace messagecorps
