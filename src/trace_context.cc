#include "messagecorps/trace_context.h"

#include <pthread.h>
#include <uuid/uuid.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

// "000102...ff": the two lowercase hex digits of every byte, so encoding is one copy per byte.
constexpr std::array<char, 512> kHexPairs = [] {
  constexpr char digits[] = "0123456789abcdef";
  std::array<char, 512> table{};
  for (int b = 0; b < 256; ++b) {
    table[2 * b] = digits[b >> 4];
    table[2 * b + 1] = digits[b & 0xf];
  }
  return table;
}();

// For each byte: its lowercase hex digit if it is a hex digit of either case, else 0.
constexpr std::array<char, 256> kLoweredHex = [] {
  std::array<char, 256> table{};
  for (int c = '0'; c <= '9'; ++c) table[c] = static_cast<char>(c);
  for (int c = 'a'; c <= 'f'; ++c) table[c] = static_cast<char>(c);
  for (int c = 'A'; c <= 'F'; ++c) table[c] = static_cast<char>(c - 'A' + 'a');
  return table;
}();

inline void PutHexByte(unsigned char b, char* out) { std::memcpy(out, &kHexPairs[2 * b], 2); }

// --- fork safety -------------------------------------------------------------------------------
// A forked child inherits the random state and the UUID clock sequence of its parent; without a
// re-seed both processes would draw the same span ids and UUIDs. The child handler only bumps a
// counter (async-signal-safe); the generators notice and re-seed lazily.
std::atomic<uint32_t> g_fork_generation{1};

void OnForkChild() { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

[[maybe_unused]] const bool kAtForkRegistered = [] {
  pthread_atfork(nullptr, nullptr, &OnForkChild);
  return true;
}();

uint64_t SeedFromRandomDevice() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

// --- random span ids: splitmix64 per thread --------------------------------------------------
// A bijection of a 64-bit counter, so one thread never repeats a value; threads start at random
// points. Trivially constructible so the thread_local needs no init guard.
struct SpanRng {
  uint64_t state;
  uint32_t generation;  // 0 = not seeded yet
};
thread_local SpanRng t_span_rng{0, 0};

uint64_t NextRandom64() {
  SpanRng& rng = t_span_rng;
  uint32_t generation = g_fork_generation.load(std::memory_order_relaxed);
  if (rng.generation != generation) [[unlikely]] {
    rng.state = SeedFromRandomDevice();
    rng.generation = generation;
  }
  uint64_t z = (rng.state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void WriteHex64(uint64_t v, char* out) {
  for (int i = 7; i >= 0; --i) {
    PutHexByte(static_cast<unsigned char>(v), out + 2 * i);
    v >>= 8;
  }
}

void WriteHexBytes(const unsigned char* bytes, size_t n, char* out) {
  for (size_t i = 0; i < n; ++i) PutHexByte(bytes[i], out + 2 * i);
}

// --- version-1 UUIDs ---------------------------------------------------------------------------
// libuuid's uuid_generate_time costs ~3 us and three system calls per UUID here (it tries the uuidd
// socket and flock()s its clock file every call), ten times the whole send budget. So libuuid gives
// us the node id once per process; the timestamp and clock sequence are ours, as RFC 4122 section
// 4.2.1 allows when no shared stable storage is used: a random clock sequence per process (re-drawn
// after fork) and a process-wide strictly increasing 100 ns timestamp, which makes every UUID of
// the process unique even when many are drawn within one clock tick or the clock steps back.
constexpr uint64_t kGregorianToUnix100ns = 0x01B21DD213814000ULL;

std::atomic<uint64_t> g_uuid_node{0};  // bit 63 set once known
std::atomic<uint64_t> g_uuid_clock_seq_and_generation{0};
std::atomic<uint64_t> g_uuid_last_timestamp{0};

uint64_t UuidNode() {
  uint64_t node = g_uuid_node.load(std::memory_order_acquire);
  if (node != 0) [[likely]]
    return node & 0xffffffffffffULL;
  uuid_t probe;
  uuid_generate_time(probe);  // the node libuuid would use: the MAC, else random multicast
  uint64_t n = 0;
  for (int i = 10; i < 16; ++i) n = (n << 8) | probe[i];
  uint64_t expected = 0;
  g_uuid_node.compare_exchange_strong(expected, n | (1ULL << 63), std::memory_order_acq_rel);
  return (expected == 0 ? n : expected) & 0xffffffffffffULL;
}

uint16_t UuidClockSeq() {
  uint32_t generation = g_fork_generation.load(std::memory_order_relaxed);
  uint64_t packed = g_uuid_clock_seq_and_generation.load(std::memory_order_acquire);
  if (static_cast<uint32_t>(packed >> 32) == generation) [[likely]] {
    return static_cast<uint16_t>(packed & 0x3fff);
  }
  uint64_t seq = SeedFromRandomDevice() & 0x3fff;
  // After a fork, never the parent's sequence: the two processes share the timestamp state.
  if (packed != 0 && seq == (packed & 0x3fff)) seq ^= 1;
  uint64_t fresh = (static_cast<uint64_t>(generation) << 32) | seq;
  // Racing first callers: one wins, everybody uses the winner's value.
  if (!g_uuid_clock_seq_and_generation.compare_exchange_strong(packed, fresh,
                                                               std::memory_order_acq_rel)) {
    if (static_cast<uint32_t>(packed >> 32) == generation) return packed & 0x3fff;
    g_uuid_clock_seq_and_generation.store(fresh, std::memory_order_release);
  }
  return static_cast<uint16_t>(fresh & 0x3fff);
}

// The coarse clock (a few ms resolution) costs a quarter of the precise one and is enough: the
// counter below makes the timestamps unique, and it only runs ahead of the clock beyond ~10 million
// UUIDs per second.
uint64_t Now100ns() {
#ifdef CLOCK_REALTIME_COARSE
  timespec ts;
  if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) == 0) {
    return static_cast<uint64_t>(ts.tv_sec) * 10000000u + static_cast<uint64_t>(ts.tv_nsec) / 100u;
  }
#endif
  auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count() / 100);
}

uint64_t NextUuidTimestamp() {
  const uint64_t now = Now100ns() + kGregorianToUnix100ns;
  uint64_t last = g_uuid_last_timestamp.load(std::memory_order_relaxed);
  uint64_t next;
  do {
    next = now > last ? now : last + 1;
  } while (!g_uuid_last_timestamp.compare_exchange_weak(last, next, std::memory_order_relaxed));
  return next;
}

void NewUuidV1Bytes(unsigned char out[16]) {
  uint64_t ts = NextUuidTimestamp();
  uint16_t clock_seq = UuidClockSeq();
  uint64_t node = UuidNode();
  uint32_t time_low = static_cast<uint32_t>(ts);
  uint16_t time_mid = static_cast<uint16_t>(ts >> 32);
  uint16_t time_hi_and_version = static_cast<uint16_t>(((ts >> 48) & 0x0fff) | 0x1000);
  out[0] = static_cast<unsigned char>(time_low >> 24);
  out[1] = static_cast<unsigned char>(time_low >> 16);
  out[2] = static_cast<unsigned char>(time_low >> 8);
  out[3] = static_cast<unsigned char>(time_low);
  out[4] = static_cast<unsigned char>(time_mid >> 8);
  out[5] = static_cast<unsigned char>(time_mid);
  out[6] = static_cast<unsigned char>(time_hi_and_version >> 8);
  out[7] = static_cast<unsigned char>(time_hi_and_version);
  out[8] = static_cast<unsigned char>(((clock_seq >> 8) & 0x3f) | 0x80);  // RFC 4122 variant
  out[9] = static_cast<unsigned char>(clock_seq);
  for (int i = 0; i < 6; ++i) out[10 + i] = static_cast<unsigned char>(node >> (40 - 8 * i));
}

// --- validation --------------------------------------------------------------------------------
bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

// True when all 8 bytes of `w` are lowercase hex digits; a word at a time (SWAR): for bytes below
// 0x80, adding (0x80 - lo) sets a byte's high bit iff byte >= lo, adding (0x7f - hi) iff byte > hi.
bool IsLowerHexWord(uint64_t w) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  constexpr uint64_t kHigh = 0x8080808080808080ULL;
  if ((w & kHigh) != 0) return false;
  auto in_range = [w](uint64_t lo, uint64_t hi) {
    return (w + (0x80 - lo) * kOnes) & ~(w + (0x7f - hi) * kOnes) & kHigh;
  };
  return (in_range('0', '9') | in_range('a', 'f')) == kHigh;
}

// Lowercase hex and not all '0', for ids whose length is a multiple of 8 (trace and span ids).
bool IsLowerHexIdFast(std::string_view id) {
  constexpr uint64_t kZeros = 0x3030303030303030ULL;  // "00000000"
  bool nonzero = false;
  for (size_t i = 0; i < id.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, id.data() + i, 8);
    if (!IsLowerHexWord(w)) return false;
    nonzero |= w != kZeros;
  }
  return nonzero;
}

// Copies `id` (hex of any case) lowered into `out` (size n + 1). False if not n hex digits or all
// zero. Already-lowercase ids (the usual case) are checked a word at a time.
bool CopyHexId(std::string_view id, size_t n, char* out) {
  if (id.size() != n) return false;
  if (n % 8 == 0 && IsLowerHexIdFast(id)) {
    std::memcpy(out, id.data(), n);
    out[n] = '\0';
    return true;
  }
  char any_nonzero = 0;  // a bit set by any digit other than '0'
  bool all_valid = true;
  for (size_t i = 0; i < n; ++i) {
    const char c = kLoweredHex[static_cast<unsigned char>(id[i])];
    all_valid &= c != 0;
    any_nonzero |= static_cast<char>(c ^ '0');
    out[i] = c;
  }
  out[n] = '\0';
  return all_valid && any_nonzero != 0;
}

bool IsLowerHexId(std::string_view s) {
  if (s.size() % 8 == 0) return IsLowerHexIdFast(s);
  bool nonzero = false;
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
    nonzero |= c != '0';
  }
  return nonzero;
}

int HexValue(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

absl::Status Invalid(std::string_view what, std::string_view value) {
  return absl::InvalidArgumentError(
      absl::StrCat(AsAbsl(what), " \"", absl::CEscape(AsAbsl(value.substr(0, 128))), "\""));
}

}  // namespace

TraceContext TraceContext::NewTrace() {
  TraceContext t;
  unsigned char bytes[16];
  NewUuidV1Bytes(bytes);
  WriteHexBytes(bytes, sizeof bytes, t.trace_id_.data());
  t.NewSpan();
  return t;
}

absl::StatusOr<TraceContext> TraceContext::FromTraceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" trace-flags, all lowercase hex (W3C Trace Context §3.2).
  constexpr size_t kV0Size = 2 + 1 + kTraceIdHex + 1 + kSpanIdHex + 1 + 2;  // 55
  if (header.size() < kV0Size) return Invalid("traceparent too short:", header);
  std::string_view version = header.substr(0, 2);
  if (!IsLowerHex(version[0]) || !IsLowerHex(version[1])) {
    return Invalid("traceparent version is not 2 lowercase hex digits:", header);
  }
  if (version == "ff") return Invalid("traceparent version ff is invalid:", header);
  if (version == "00") {
    if (header.size() != kV0Size)
      return Invalid("traceparent version 00 must be 55 chars:", header);
  } else if (header.size() > kV0Size && header[kV0Size] != '-') {
    // A later version may append fields, each after a '-'; we read the version-00 prefix.
    return Invalid("traceparent has trailing data:", header);
  }
  if (header[2] != '-' || header[3 + kTraceIdHex] != '-' ||
      header[4 + kTraceIdHex + kSpanIdHex] != '-') {
    return Invalid("traceparent is not version-traceid-parentid-flags:", header);
  }
  std::string_view trace_id = header.substr(3, kTraceIdHex);
  std::string_view span_id = header.substr(4 + kTraceIdHex, kSpanIdHex);
  std::string_view flags = header.substr(5 + kTraceIdHex + kSpanIdHex, 2);
  if (!IsLowerHexId(trace_id)) {
    return Invalid("traceparent trace-id is not 32 lowercase hex digits, not all zero:", header);
  }
  if (!IsLowerHexId(span_id)) {
    return Invalid("traceparent parent-id is not 16 lowercase hex digits, not all zero:", header);
  }
  if (!IsLowerHex(flags[0]) || !IsLowerHex(flags[1])) {
    return Invalid("traceparent trace-flags is not 2 lowercase hex digits:", header);
  }
  TraceContext t;
  std::memcpy(t.trace_id_.data(), trace_id.data(), kTraceIdHex);
  std::memcpy(t.span_id_.data(), span_id.data(), kSpanIdHex);
  t.sampled_ = (HexValue(flags[1]) & 0x1) != 0;
  return t;
}

absl::StatusOr<TraceContext> TraceContext::FromIds(std::string_view trace_id,
                                                   std::string_view span_id) {
  TraceContext t;
  if (!CopyHexId(trace_id, kTraceIdHex, t.trace_id_.data())) {
    return Invalid("trace_id is not 32 hex digits (not all zero):", trace_id);
  }
  if (span_id.empty()) {
    t.NewSpan();
  } else if (!CopyHexId(span_id, kSpanIdHex, t.span_id_.data())) {
    return Invalid("span_id is not 16 hex digits (not all zero):", span_id);
  }
  return t;
}

TraceContext TraceContext::Child() const {
  if (empty()) return NewTrace();
  TraceContext child;
  child.trace_id_ = trace_id_;
  child.parent_span_id_ = span_id_;
  child.sampled_ = sampled_;
  child.NewSpan();
  return child;
}

std::string_view TraceContext::trace_id() const {
  return {trace_id_.data(), empty() ? 0 : kTraceIdHex};
}

std::string_view TraceContext::span_id() const {
  return {span_id_.data(), span_id_[0] == '\0' ? 0 : kSpanIdHex};
}

std::string_view TraceContext::parent_span_id() const {
  return {parent_span_id_.data(), parent_span_id_[0] == '\0' ? 0 : kSpanIdHex};
}

std::string TraceContext::ToTraceparent() const {
  std::array<char, 55> buffer;
  size_t n = WriteTraceparent(buffer);
  return std::string(buffer.data(), n);
}

size_t TraceContext::WriteTraceparent(std::array<char, 55>& out) const {
  if (empty() || span_id_[0] == '\0') return 0;
  char* p = out.data();
  *p++ = '0';
  *p++ = '0';
  *p++ = '-';
  std::memcpy(p, trace_id_.data(), kTraceIdHex);
  p += kTraceIdHex;
  *p++ = '-';
  std::memcpy(p, span_id_.data(), kSpanIdHex);
  p += kSpanIdHex;
  *p++ = '-';
  *p++ = '0';
  *p++ = sampled_ ? '1' : '0';
  return out.size();
}

void TraceContext::NewSpan() {
  uint64_t v;
  do {
    v = NextRandom64();
  } while (v == 0);  // all-zero span ids are invalid in W3C
  WriteHex64(v, span_id_.data());
  span_id_[kSpanIdHex] = '\0';
}

absl::Status TraceContext::SetTraceId(std::string_view trace_id) {
  std::array<char, kTraceIdHex + 1> lowered;
  if (!CopyHexId(trace_id, kTraceIdHex, lowered.data())) {
    return Invalid("trace_id is not 32 hex digits (not all zero):", trace_id);
  }
  trace_id_ = lowered;
  return absl::OkStatus();
}

void NewUuidV1(std::array<char, 36>& out) {
  unsigned char bytes[16];
  NewUuidV1Bytes(bytes);
  // The canonical form, as uuid_unparse_lower writes it: 8-4-4-4-12 lowercase hex digits.
  char* p = out.data();
  WriteHexBytes(bytes, 4, p);
  p[8] = '-';
  WriteHexBytes(bytes + 4, 2, p + 9);
  p[13] = '-';
  WriteHexBytes(bytes + 6, 2, p + 14);
  p[18] = '-';
  WriteHexBytes(bytes + 8, 2, p + 19);
  p[23] = '-';
  WriteHexBytes(bytes + 10, 6, p + 24);
}

std::string NewUuidV1() {
  std::array<char, 36> text;
  NewUuidV1(text);
  return std::string(text.data(), text.size());
}

}  // namespace messagecorps
