// messagecorps/tracing.h — OpenTelemetry spans for sends and received records, exported over OTLP.
//
// Configured only by the standard OpenTelemetry environment variables, read once, when the first
// Producer, Consumer or Router is created (or by an explicit Init()):
//   OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT   where spans go; tracing is
//       off when neither is set
//   OTEL_EXPORTER_OTLP_TRACES_PROTOCOL / OTEL_EXPORTER_OTLP_PROTOCOL   "grpc" or "http/protobuf"
//       (the default, as the specification says)
//   OTEL_SDK_DISABLED=true, OTEL_TRACES_EXPORTER=none                  off
//   OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES                        the resource (service name
//       defaults to LOG_TAG_SERVICE, the envelope's service)
//   OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG                       always_on, always_off,
//       traceidratio, parentbased_always_on (default), parentbased_always_off,
//       parentbased_traceidratio
//   OTEL_BSP_SCHEDULE_DELAY, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE
//   and the exporter's own OTEL_EXPORTER_OTLP_* (headers, timeout, certificates).
//
// What is exported (OpenTelemetry messaging semantic conventions, Kafka):
//   - a PRODUCER span `publish <topic>` per Producer send. Its span id is the span id of the
//     record's W3C `traceparent` header, so the receiver's span links to it; its parent is the
//     active span of the sending thread when that belongs to the same trace (a router handler),
//     else the parent span recorded in the message's trace context.
//   - a CONSUMER span `process <topic>` per record a Router handles (or that a program wraps in
//     StartProcess), parented on the record's `traceparent`, or on the envelope's trace id alone
//     for records from the original Python wrapper (no span id: then a root span in that trace).
//     The router's handler span (`handle <handler>`, INTERNAL) and a dead-letter publish are its
//     children.
//   Attributes: messaging.system=kafka, messaging.operation.type (send/process),
//   messaging.operation.name, messaging.destination.name, messaging.destination.partition.id,
//   messaging.kafka.offset, messaging.kafka.message.key, messaging.consumer.group.name,
//   messaging.message.id (the envelope uuid) and messaging.message.body.size.
//
// Cost: with tracing off (unset variables, or a build without opentelemetry-cpp) every hook is one
// relaxed atomic load and a branch: no allocation, no lock. With it on, each span allocates.
//
// Threads: every function is thread-safe. A Span is bound to the thread that started it: it is the
// thread's active span while it lives and must end there, innermost first (it is not movable).
//
// Errors: Init() returns kInvalidArgument for a malformed OTEL_* value (unknown sampler or
// protocol, a ratio outside [0, 1]) and kUnimplemented when tracing is configured but the library
// was built without opentelemetry-cpp (CMake option MCORPS_OPENTELEMETRY). Producers, consumers and
// routers then log the error once and run without tracing: tracing never stops messaging.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "absl/status/status.h"

namespace messagecorps {

class ReceivedMessage;

namespace tracing {

// True when the library was built with opentelemetry-cpp.
bool Available();

// Reads the environment once (later calls return the first result). OK also when tracing stays off
// because nothing is configured.
absl::Status Init();

// True once Init() turned tracing on. One relaxed atomic load.
bool Enabled();

// Exports what is queued and stops exporting (waits at most `timeout`). Call once before the
// process exits; spans started afterwards are dropped. No-op when tracing is off.
void Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5));

// Calls Shutdown() when it goes out of scope: declare one as the first line of main(), so the
// spans of the last records are exported on every return path.
struct ShutdownAtExit {
  ShutdownAtExit() = default;
  ShutdownAtExit(const ShutdownAtExit&) = delete;
  ShutdownAtExit& operator=(const ShutdownAtExit&) = delete;
  ~ShutdownAtExit() { Shutdown(); }
};

// Exports what is queued without stopping (waits at most `timeout`).
void ForceFlush(std::chrono::milliseconds timeout = std::chrono::seconds(5));

// An active span (see the file comment). Empty (and free) when tracing is off or the span is not
// sampled. Not copyable, not movable: keep it on the stack of the thread that started it.
class Span {
 public:
  Span() = default;
  ~Span();  // ends the span and restores the previously active one
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;

  explicit operator bool() const { return impl_ != nullptr; }

  // Marks the span as failed with `status`' message (ignored for OK or an empty span).
  void SetError(const absl::Status& status);

  struct Impl;

 private:
  friend Span StartProcess(const ReceivedMessage& record, std::string_view consumer_group);
  friend Span StartInternal(std::string_view name, std::string_view name_suffix);
  friend struct SpanAccess;
  explicit Span(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// A CONSUMER `process <topic>` span for `record`, parented as the file comment says. Programs that
// poll a Consumer themselves open one around their handling of each record; the Router does it.
Span StartProcess(const ReceivedMessage& record, std::string_view consumer_group = {});

// An INTERNAL span named `name` + `name_suffix` (joined only when tracing is on: no allocation
// when off), child of the thread's active span (a root span without one).
Span StartInternal(std::string_view name, std::string_view name_suffix = {});

// The trace and span ids (lowercase hex) of the calling thread's active span; false when there is
// none (tracing off, or no span active). No allocation.
bool ActiveIds(std::array<char, 32>& trace_id, std::array<char, 16>& span_id);

}  // namespace tracing
}  // namespace messagecorps
