#include "messagecorps/trace_context.h"

#include <gtest/gtest.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace messagecorps {
namespace {

constexpr std::string_view kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view kSpan = "00f067aa0ba902b7";
constexpr std::string_view kTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

bool IsLowerHex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// The timestamp of a canonical version-1 UUID: 100 ns units since 1582-10-15.
uint64_t UuidTimestamp(std::string_view uuid) {
  std::string hex = std::string(uuid.substr(15, 3)) + std::string(uuid.substr(9, 4)) +
                    std::string(uuid.substr(0, 8));
  return std::stoull(hex, nullptr, 16);
}

// The same as Unix seconds.
double UuidUnixSeconds(std::string_view uuid) {
  return static_cast<double>(UuidTimestamp(uuid) - 0x01B21DD213814000ULL) / 1e7;
}

TEST(TraceContext, DefaultIsEmpty) {
  TraceContext t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.trace_id(), "");
  EXPECT_EQ(t.span_id(), "");
  EXPECT_EQ(t.parent_span_id(), "");
  EXPECT_TRUE(t.sampled());
  EXPECT_EQ(t.ToTraceparent(), "");
  std::array<char, 55> buffer;
  EXPECT_EQ(t.WriteTraceparent(buffer), 0u);
}

TEST(TraceContext, NewTraceIsAVersion1UuidAndARandomSpan) {
  TraceContext t = TraceContext::NewTrace();
  EXPECT_FALSE(t.empty());
  ASSERT_TRUE(IsLowerHex(t.trace_id(), 32)) << t.trace_id();
  EXPECT_EQ(t.trace_id()[12], '1') << "version nibble of a v1 UUID: " << t.trace_id();
  EXPECT_NE(std::string_view("89ab").find(t.trace_id()[16]), std::string_view::npos)
      << "RFC 4122 variant: " << t.trace_id();
  EXPECT_TRUE(IsLowerHex(t.span_id(), 16)) << t.span_id();
  EXPECT_EQ(t.parent_span_id(), "");
  EXPECT_TRUE(t.sampled());

  TraceContext u = TraceContext::NewTrace();
  EXPECT_NE(t.trace_id(), u.trace_id());
  EXPECT_NE(t.span_id(), u.span_id());
}

TEST(TraceContext, ParsesAValidTraceparent) {
  auto t = TraceContext::FromTraceparent(kTraceparent);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->trace_id(), kTrace);
  EXPECT_EQ(t->span_id(), kSpan);
  EXPECT_EQ(t->parent_span_id(), "");
  EXPECT_TRUE(t->sampled());
  EXPECT_EQ(t->ToTraceparent(), kTraceparent);

  std::array<char, 55> buffer;
  ASSERT_EQ(t->WriteTraceparent(buffer), 55u);
  EXPECT_EQ(std::string_view(buffer.data(), buffer.size()), kTraceparent);
}

TEST(TraceContext, NotSampledFlagRoundTrips) {
  const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00";
  auto t = TraceContext::FromTraceparent(header);
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_FALSE(t->sampled());
  EXPECT_EQ(t->ToTraceparent(), header);
  // Only the sampled bit is kept; other (unknown) flags are dropped when propagating.
  auto other =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03");
  ASSERT_TRUE(other.ok());
  EXPECT_TRUE(other->sampled());
  EXPECT_EQ(other->ToTraceparent(), kTraceparent);
  auto unsampled =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-fe");
  ASSERT_TRUE(unsampled.ok());
  EXPECT_FALSE(unsampled->sampled());
}

TEST(TraceContext, LaterVersionsMayAppendFields) {
  // W3C forward compatibility: a version > 00 is read as its version-00 prefix.
  auto same_size =
      TraceContext::FromTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(same_size.ok()) << same_size.status();
  EXPECT_EQ(same_size->trace_id(), kTrace);
  auto longer = TraceContext::FromTraceparent(
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-will-be-like");
  ASSERT_TRUE(longer.ok()) << longer.status();
  EXPECT_EQ(longer->trace_id(), kTrace);
  EXPECT_EQ(longer->span_id(), kSpan);
  EXPECT_TRUE(longer->sampled());
  // We always write version 00.
  EXPECT_EQ(longer->ToTraceparent(), kTraceparent);
}

TEST(TraceContext, RejectsMalformedTraceparents) {
  const std::vector<std::string> bad = {
      "",
      "00",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",      // short flags
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",      // 31-digit trace
      "00-4bf92f3577b34da6a3ce929d0e0e47361-00f067aa0ba902b7-01",    // 33-digit trace
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01",      // 15-digit span
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",    // version 00 with extra
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xy",  // version 00 with extra
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01 ",    // trailing space
      " 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // leading space
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version ff
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version not hex
      "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version upper case
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     // trace upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01",     // span upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A",     // flags upper case
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0x",     // flags not hex
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     // all-zero trace
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     // all-zero span
      "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7-01",     // separator
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",     // separator
      "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01",     // trace not hex
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01",     // span not hex
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",    // later version, no '-'
      "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // later version, too short
      std::string("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\0", 55),
  };
  for (const std::string& header : bad) {
    auto t = TraceContext::FromTraceparent(header);
    EXPECT_FALSE(t.ok()) << "accepted: \"" << header << "\"";
    if (!t.ok()) {
      EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << header;
    }
  }
}

TEST(TraceContext, EveryByteValueInEveryLaneIsClassifiedRight) {
  // Ids are validated a word at a time; try each byte value in several positions of both ids.
  auto is_lower_hex = [](int c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); };
  auto is_hex = [&](int c) { return is_lower_hex(c) || (c >= 'A' && c <= 'F'); };
  for (int c = 0; c < 256; ++c) {
    for (size_t pos : {0, 7, 13, 24, 31}) {
      std::string trace(kTrace);
      trace[pos] = static_cast<char>(c);
      std::string header = "00-" + trace + "-" + std::string(kSpan) + "-01";
      EXPECT_EQ(TraceContext::FromTraceparent(header).ok(), is_lower_hex(c)) << c << "@" << pos;
      EXPECT_EQ(TraceContext::FromIds(trace, kSpan).ok(), is_hex(c)) << c << "@" << pos;
    }
    for (size_t pos : {0, 5, 8, 15}) {
      std::string span(kSpan);
      span[pos] = static_cast<char>(c);
      std::string header = "00-" + std::string(kTrace) + "-" + span + "-01";
      EXPECT_EQ(TraceContext::FromTraceparent(header).ok(), is_lower_hex(c)) << c << "@" << pos;
      EXPECT_EQ(TraceContext::FromIds(kTrace, span).ok(), is_hex(c)) << c << "@" << pos;
    }
  }
  // All zero but one digit is valid, in any word.
  for (size_t pos = 0; pos < 32; ++pos) {
    std::string trace(32, '0');
    trace[pos] = '1';
    EXPECT_TRUE(TraceContext::FromIds(trace, "").ok()) << pos;
  }
}

TEST(TraceContext, FromIdsLowersAndValidates) {
  auto t = TraceContext::FromIds("4BF92F3577B34DA6A3CE929D0E0E4736", "00F067AA0BA902B7");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->trace_id(), kTrace);
  EXPECT_EQ(t->span_id(), kSpan);
  EXPECT_EQ(t->parent_span_id(), "");
  EXPECT_EQ(t->ToTraceparent(), kTraceparent);

  auto no_span = TraceContext::FromIds(kTrace, "");
  ASSERT_TRUE(no_span.ok()) << no_span.status();
  EXPECT_EQ(no_span->trace_id(), kTrace);
  EXPECT_TRUE(IsLowerHex(no_span->span_id(), 16)) << no_span->span_id();

  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", ""},
      {"4bf92f3577b34da6a3ce929d0e0e473", ""},
      {"4bf92f3577b34da6a3ce929d0e0e47366", ""},
      {"4bf92f35-77b34da6a3ce929d0e0e4736", ""},
      {"00000000000000000000000000000000", ""},
      {std::string(kTrace), "00f067aa0ba902b"},
      {std::string(kTrace), "00f067aa0ba902bq"},
      {std::string(kTrace), "0000000000000000"},
  };
  for (const auto& [trace, span] : bad) {
    auto r = TraceContext::FromIds(trace, span);
    EXPECT_FALSE(r.ok()) << trace << " / " << span;
    if (!r.ok()) {
      EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(TraceContext, ChildKeepsTraceAndRecordsParentSpan) {
  auto parent =
      TraceContext::FromTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  ASSERT_TRUE(parent.ok());
  TraceContext child = parent->Child();
  EXPECT_EQ(child.trace_id(), kTrace);
  EXPECT_EQ(child.parent_span_id(), kSpan);
  EXPECT_TRUE(IsLowerHex(child.span_id(), 16));
  EXPECT_NE(child.span_id(), kSpan);
  EXPECT_FALSE(child.sampled()) << "the sampling decision is inherited";

  TraceContext grandchild = child.Child();
  EXPECT_EQ(grandchild.trace_id(), kTrace);
  EXPECT_EQ(grandchild.parent_span_id(), child.span_id());
}

TEST(TraceContext, ChildOfEmptyIsANewRoot) {
  TraceContext child = TraceContext().Child();
  EXPECT_FALSE(child.empty());
  EXPECT_TRUE(IsLowerHex(child.trace_id(), 32));
  EXPECT_TRUE(IsLowerHex(child.span_id(), 16));
  EXPECT_EQ(child.parent_span_id(), "");
}

TEST(TraceContext, NewSpanKeepsTraceAndParent) {
  TraceContext t = TraceContext::NewTrace().Child();
  std::string trace(t.trace_id()), span(t.span_id()), parent(t.parent_span_id());
  t.NewSpan();
  EXPECT_EQ(t.trace_id(), trace);
  EXPECT_EQ(t.parent_span_id(), parent);
  EXPECT_NE(t.span_id(), span);
  EXPECT_TRUE(IsLowerHex(t.span_id(), 16));
}

TEST(TraceContext, SetTraceIdValidatesAndKeepsSpans) {
  TraceContext t = TraceContext::NewTrace().Child();
  std::string span(t.span_id()), parent(t.parent_span_id());
  ASSERT_TRUE(t.SetTraceId("4BF92F3577B34DA6A3CE929D0E0E4736").ok());
  EXPECT_EQ(t.trace_id(), kTrace);
  EXPECT_EQ(t.span_id(), span);
  EXPECT_EQ(t.parent_span_id(), parent);

  EXPECT_EQ(t.SetTraceId("xyz").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.SetTraceId("00000000000000000000000000000000").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.trace_id(), kTrace) << "a failed SetTraceId changes nothing";

  // A trace id without a span cannot be written as a traceparent.
  TraceContext only_trace;
  ASSERT_TRUE(only_trace.SetTraceId(kTrace).ok());
  EXPECT_FALSE(only_trace.empty());
  EXPECT_EQ(only_trace.span_id(), "");
  EXPECT_EQ(only_trace.ToTraceparent(), "");
}

TEST(TraceContext, SpanIdsDoNotRepeat) {
  std::set<std::string> seen;
  TraceContext t = TraceContext::NewTrace();
  for (int i = 0; i < 100000; ++i) {
    t.NewSpan();
    ASSERT_TRUE(IsLowerHex(t.span_id(), 16));
    ASSERT_TRUE(seen.emplace(t.span_id()).second) << "repeated span id " << t.span_id();
  }
}

TEST(Uuid, NewUuidV1IsCanonicalVersion1WithTheCurrentTime) {
  std::string uuid = NewUuidV1();
  ASSERT_EQ(uuid.size(), 36u);
  for (size_t i : {8, 13, 18, 23}) EXPECT_EQ(uuid[i], '-') << uuid;
  std::string hex = uuid;
  hex.erase(std::remove(hex.begin(), hex.end(), '-'), hex.end());
  EXPECT_TRUE(IsLowerHex(hex, 32)) << uuid;
  EXPECT_EQ(uuid[14], '1') << "version: " << uuid;
  EXPECT_NE(std::string_view("89ab").find(uuid[19]), std::string_view::npos) << "variant: " << uuid;
  double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(UuidUnixSeconds(uuid), now, 5.0) << uuid;

  std::array<char, 36> buffer;
  NewUuidV1(buffer);
  EXPECT_NE(std::string_view(buffer.data(), buffer.size()), uuid);
  EXPECT_EQ(buffer[14], '1');
}

TEST(Uuid, LibuuidAgreesItIsATimeBasedUuid) {
  std::string text = NewUuidV1();
  uuid_t parsed;
  ASSERT_EQ(uuid_parse(text.c_str(), parsed), 0) << text;
  EXPECT_EQ(uuid_type(parsed), UUID_TYPE_DCE_TIME);
  EXPECT_EQ(uuid_variant(parsed), UUID_VARIANT_DCE);
  timeval tv{};
  time_t seconds = uuid_time(parsed, &tv);
  EXPECT_NEAR(static_cast<double>(seconds), static_cast<double>(std::time(nullptr)), 5.0);
  char unparsed[37];
  uuid_unparse_lower(parsed, unparsed);
  EXPECT_EQ(text, unparsed);
  // The node is libuuid's own (its MAC, or its random multicast node).
  uuid_t reference;
  uuid_generate_time(reference);
  EXPECT_EQ(std::memcmp(parsed + 10, reference + 10, 6), 0);
}

TEST(Uuid, UniqueAndIncreasingWithinOneThread) {
  std::set<std::string> seen;
  uint64_t last = 0;
  for (int i = 0; i < 50000; ++i) {
    std::string uuid = NewUuidV1();
    ASSERT_TRUE(seen.insert(uuid).second) << "repeated " << uuid;
    uint64_t t = UuidTimestamp(uuid);
    ASSERT_GT(t, last) << uuid;
    last = t;
  }
}

TEST(Uuid, UniqueAcrossThreads) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 20000;
  std::vector<std::vector<std::string>> drawn(kThreads);
  std::vector<std::vector<std::string>> spans(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      TraceContext trace = TraceContext::NewTrace();
      for (int i = 0; i < kPerThread; ++i) {
        drawn[t].push_back(NewUuidV1());
        trace.NewSpan();
        spans[t].emplace_back(trace.span_id());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  std::set<std::string> uuids, span_ids;
  for (int t = 0; t < kThreads; ++t) {
    uuids.insert(drawn[t].begin(), drawn[t].end());
    span_ids.insert(spans[t].begin(), spans[t].end());
  }
  EXPECT_EQ(uuids.size(), size_t{kThreads * kPerThread});
  EXPECT_EQ(span_ids.size(), size_t{kThreads * kPerThread});
}

TEST(Uuid, ForkedChildDrawsDifferentIds) {
  // Warm up the generators so the child inherits their state.
  TraceContext parent_trace = TraceContext::NewTrace();
  (void)NewUuidV1();

  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(fds[0]);
    TraceContext t = parent_trace;
    std::string out;
    for (int i = 0; i < 64; ++i) {
      t.NewSpan();
      out += t.span_id();
      out += NewUuidV1();
    }
    ssize_t written = write(fds[1], out.data(), out.size());
    _exit(written == static_cast<ssize_t>(out.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string mine;
  TraceContext t = parent_trace;
  for (int i = 0; i < 64; ++i) {
    t.NewSpan();
    mine += t.span_id();
    mine += NewUuidV1();
  }
  std::string theirs;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fds[0], buffer, sizeof buffer)) > 0)
    theirs.append(buffer, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  ASSERT_EQ(theirs.size(), mine.size());

  constexpr size_t kRecord = 16 + 36;
  std::set<std::string> ids;
  for (const std::string* s : {&mine, &theirs}) {
    for (size_t i = 0; i < s->size(); i += kRecord) {
      EXPECT_TRUE(ids.insert(s->substr(i, 16)).second) << "span id repeated across fork";
      EXPECT_TRUE(ids.insert(s->substr(i + 16, 36)).second) << "uuid repeated across fork";
    }
  }
}

}  // namespace
}  // namespace messagecorps
