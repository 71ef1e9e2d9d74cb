// messagecorps/trace_context.h — the trace a message belongs to, and W3C `traceparent`.
//
// The original MessageCorps gave each message a `trace_id` of 32 lowercase hex digits (a version-1 UUID
// without dashes) and kept it across hops. That is exactly a W3C Trace Context trace-id, so the same
// id appears in `_message_data.trace_id` and in the `traceparent` header
// (`00-<trace-id>-<span-id>-<flags>`). Each send is a new span (16 hex digits); a message derived from
// a received one keeps the trace id and records the received message's span as its parent.
//
// Value type; no heap memory (fixed-size buffers), so it is cheap on the hot path. Thread-compatible.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace messagecorps {

class TraceContext {
 public:
  static constexpr size_t kTraceIdHex = 32;
  static constexpr size_t kSpanIdHex = 16;

  // An empty context (no trace yet): the sender will create one.
  TraceContext() = default;

  // A fresh trace: a new version-1 UUID as the trace id (like the original), a new random span id.
  static TraceContext NewTrace();

  // Parses a `traceparent` header value. kInvalidArgument for anything not of the form
  // `00-<32 hex>-<16 hex>-<2 hex>` (version ff, all-zero trace or span ids are invalid too).
  static absl::StatusOr<TraceContext> FromTraceparent(std::string_view header);

  // Builds a context from an envelope's ids; trace_id must be 32 hex digits (upper case is accepted
  // and lowered), span_id 16 hex digits or empty (then a new one is drawn). kInvalidArgument
  // otherwise, including for all-zero ids (invalid in W3C).
  static absl::StatusOr<TraceContext> FromIds(std::string_view trace_id, std::string_view span_id);

  // The context of a message derived from this one: same trace id, new span id, parent = our span
  // (none when we have no span). The child of an empty context is a NewTrace().
  TraceContext Child() const;

  bool empty() const { return trace_id_[0] == '\0'; }
  std::string_view trace_id() const;        // 32 hex digits, or "" when empty()
  std::string_view span_id() const;         // 16 hex digits, or "" when none
  std::string_view parent_span_id() const;  // 16 hex digits, or "" when this is a root span
  bool sampled() const { return sampled_; }

  // "00-<trace>-<span>-01" (or -00 when not sampled). Empty string when empty() or when there is
  // no span id (a trace id alone, as the original's messages carry).
  std::string ToTraceparent() const;
  // Same, into a caller buffer (no allocation). Returns the number of bytes written (55) or 0.
  size_t WriteTraceparent(std::array<char, 55>& out) const;

  // Draws a fresh random span id (keeps trace and parent).
  void NewSpan();
  // Sets the trace id, keeping span ids. `trace_id` must be 32 hex digits, not all zero (upper
  // case is lowered); kInvalidArgument otherwise, and nothing changes.
  absl::Status SetTraceId(std::string_view trace_id);

 private:
  std::array<char, kTraceIdHex + 1> trace_id_{};
  std::array<char, kSpanIdHex + 1> span_id_{};
  std::array<char, kSpanIdHex + 1> parent_span_id_{};
  bool sampled_ = true;
};

// A version-1 (time-based) UUID in canonical text form (36 chars), as the original used for `uuid`.
// Thread-safe. Writes into `out` without allocating. The node is libuuid's (uuid_generate_time,
// asked once per process); timestamp and clock sequence are kept here (RFC 4122 4.2.1: a random
// clock sequence per process, re-drawn after fork; a strictly increasing timestamp), because
// libuuid costs ~3 us and three system calls per UUID. Unique within a process, increasing.
void NewUuidV1(std::array<char, 36>& out);
std::string NewUuidV1();

}  // namespace messagecorps
