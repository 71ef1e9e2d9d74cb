// Publishing for both front ends (gRPC and REST): a client's message checked against its topic's
// bound type, stamped and traced, and handed to the shared Producer.
//
// Two steps, so that a REST batch is all or nothing: Prepare validates everything and builds the
// message (nothing is produced; every error is returned here), Send queues it and reports the
// outcome once Kafka acknowledged it. Publish does both.
//
// Tracing: the request is a span of its own — the child of the client's `traceparent` when one is
// given (an invalid one is ignored, as W3C Trace Context requires), else the root of a new trace —
// and the record is produced as the child of that span. A trace id the client put into the
// message's `_message_data` wins (the library's rule); the result reports the trace id the record
// carries.
//
// Errors of Prepare (nothing produced): kInvalidArgument (payload, key, headers, partition; the
// field path attached, see messagecorps/payload.h), kNotFound / kFailedPrecondition /
// kUnavailable (TopicCatalog::Resolve), kResourceExhausted (over the size limit).
// Errors of Send (nothing queued, `done` not called): the Producer's (kResourceExhausted when its
// queue stays full, kInvalidArgument for a bad trace id in the message, kAborted after a fatal
// producer error). Outcomes given to `done`: OK with the record's coordinates, or the delivery
// error (e.g. kDeadlineExceeded when Kafka did not acknowledge within message.timeout.ms).
//
// Thread-safety: every method may be called concurrently. `done` runs on a librdkafka polling
// thread or inside Send; it must not block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/payload.h"
#include "messagecorps/producer.h"
#include "messagecorps/trace_context.h"

namespace google::protobuf {
class Message;
}

namespace messagecorps::gateway {

class TopicCatalog;
class GatewayMetrics;
class IdempotencyCache;

// What a client sent, as views valid during Prepare/Publish.
struct PublishInput {
  enum class Form { kJson, kEncoded, kAny };
  std::string_view topic;
  Form form = Form::kJson;
  std::string_view data;             // JSON text, encoded value, or the Any's value
  std::optional<Encoding> encoding;  // kEncoded; nullopt: detected from the content
  std::string_view type_url;         // kAny
  std::optional<std::string_view> key;
  int32_t partition = -1;  // -1: the partitioner chooses
  std::vector<std::pair<std::string_view, std::string_view>> headers;  // extra record headers
  std::string_view traceparent;                                        // "" when none
  std::string_view principal;  // "" when anonymous; written to the mcorps-principal header
  // "" : the envelope uuid the client set in the message, else none (IdempotencyCache).
  std::string_view idempotency_key;
};

// A published record.
struct PublishResult {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string uuid;
  std::string trace_id;
  std::string span_id;  // "" for types without `_message_data` (the span travels in headers)
  bool duplicate = false;
};

using PublishCallback = std::function<void(absl::StatusOr<PublishResult>)>;

// A validated message ready to send. Move-only.
struct PreparedPublish {
  std::string topic;
  std::unique_ptr<google::protobuf::Message> message;
  EncodeOptions encoding;
  std::optional<std::string> key;
  int32_t partition = -1;
  Headers headers;
  TraceContext span;  // the request's span: parent of the record
  std::chrono::steady_clock::time_point received;
  // The retry key, scoped to principal and topic ("" when none): the client's key, else the
  // envelope uuid it put into the message.
  std::string idempotency_key;
};

// The header carrying the authenticated principal of a publish.
inline constexpr std::string_view kPrincipalHeader = "mcorps-principal";

// True for header names the gateway writes itself (ce_*, content-type, traceparent, tracestate,
// mcorps-*), which clients may not set.
bool IsReservedHeader(std::string_view name);

class Publisher {
 public:
  // None of the references is owned; all must outlive the Publisher. `idempotency` may be null
  // (every publish produces).
  Publisher(TopicCatalog& catalog, Producer& producer, GatewayMetrics& metrics,
            PayloadLimits limits, IdempotencyCache* idempotency = nullptr);

  absl::StatusOr<PreparedPublish> Prepare(const PublishInput& input) const;
  // With an idempotency key already seen, nothing is sent: `done` gets the first result (at once,
  // or when the first one is acknowledged).
  absl::Status Send(PreparedPublish prepared, PublishCallback done);
  absl::Status Publish(const PublishInput& input, PublishCallback done);

  const PayloadLimits& limits() const { return limits_; }

 private:
  TopicCatalog& catalog_;
  Producer& producer_;
  GatewayMetrics& metrics_;
  const PayloadLimits limits_;
  IdempotencyCache* const idempotency_;

  absl::Status Produce(PreparedPublish prepared, PublishCallback done);
};

}  // namespace messagecorps::gateway
