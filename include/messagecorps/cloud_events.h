// messagecorps/cloud_events.h — the standard headers every messagecorps record carries.
//
// CloudEvents 1.0 Kafka protocol binding, binary mode, plus W3C Trace Context and our encoding tag:
//   ce_specversion  "1.0"
//   ce_id           the envelope uuid
//   ce_source       "/messagecorps/<service>"  (URI-reference)
//   ce_type         the full protobuf message name, e.g. "protobuf.data.Image"
//   ce_time         the envelope iso_date (RFC 3339)
//   content-type    "application/x-protobuf" for raw, "application/vnd.messagecorps.seed+zlib" for
//                   seed, "application/vnd.confluent.protobuf" for confluent (a `; proto=<type>`
//                   suffix names the message type)
//   traceparent     W3C: 00-<trace-id>-<span-id>-01 (trace-id = the envelope trace_id)
//   mcorps-encoding seed | raw | confluent (what the decoder looks at first)
// That full set is HeaderMode::kStandard; the default mode (kTraceparent) sends traceparent only,
// the record's value naming its type (`_message_data.type`) and encoding (its first bytes);
// receivers read the value first and a header only where the value cannot tell (codec.h,
// consumer.h). Records from the original (no headers at all) are still understood: detection falls
// back to content.
//
// Thread-safety: pure functions. Allocation: ForEachEnvelopeHeader passes views into `envelope` and
// static strings, it allocates only when `source` is not cached (see below).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/trace_context.h"

namespace messagecorps {

// A header list as received or to send. Keys may repeat (Kafka allows it); lookups take the last.
using Headers = std::vector<std::pair<std::string, std::string>>;

namespace header {
inline constexpr std::string_view kSpecVersion = "ce_specversion";
inline constexpr std::string_view kId = "ce_id";
inline constexpr std::string_view kSource = "ce_source";
inline constexpr std::string_view kType = "ce_type";
inline constexpr std::string_view kTime = "ce_time";
inline constexpr std::string_view kContentType = "content-type";
inline constexpr std::string_view kTraceparent = "traceparent";
inline constexpr std::string_view kEncoding = "mcorps-encoding";
// Dead-letter headers (see dead_letter.h)
inline constexpr std::string_view kDlqReason = "mcorps-dlq-reason";
inline constexpr std::string_view kDlqError = "mcorps-dlq-error";
inline constexpr std::string_view kDlqTopic = "mcorps-dlq-original-topic";
inline constexpr std::string_view kDlqPartition = "mcorps-dlq-original-partition";
inline constexpr std::string_view kDlqOffset = "mcorps-dlq-original-offset";
}  // namespace header

// The content-type value for an encoding (without the "; proto=" suffix).
std::string_view ContentTypeFor(Encoding encoding);

// Calls `emit(key, value)` for each envelope header of a record of type `type_name` with
// `encoding`. `source` is the precomputed ce_source ("/messagecorps/<service>"; see
// CloudEventsSource) so no allocation happens per message.
void ForEachEnvelopeHeader(const Envelope& envelope, std::string_view type_name, Encoding encoding,
                           std::string_view source,
                           const std::function<void(std::string_view, std::string_view)>& emit);

// The compact set (HeaderMode::kCompact): ce_type, traceparent and mcorps-encoding only — what a
// messagecorps consumer reads to check the type, follow the trace and decode.
void ForEachCompactHeader(const Envelope& envelope, std::string_view type_name, Encoding encoding,
                          const std::function<void(std::string_view, std::string_view)>& emit);

// The traceparent set (HeaderMode::kTraceparent, the default): `traceparent` only, as
// OpenTelemetry's Kafka instrumentations send, for a record whose value says the rest — its type in
// `_message_data.type` (`type_in_value`), its encoding by its first bytes (DetectEncoding on
// `value`, the encoded record value). Where the value cannot say it, the header that can is added:
// ce_type for a type without an envelope field, mcorps-encoding for a value whose bytes read as
// another encoding (a raw message starting like a zlib header).
void ForEachTraceparentHeader(const Envelope& envelope, std::string_view type_name,
                              bool type_in_value, Encoding encoding, std::string_view value,
                              const std::function<void(std::string_view, std::string_view)>& emit);

// "/messagecorps/<service>"
std::string CloudEventsSource(std::string_view service);

// The last value of `key` in `headers`, if any.
std::optional<std::string_view> FindHeader(const Headers& headers, std::string_view key);

// What the headers of a received record say (all optional: the original sent none).
struct ReceivedHeaders {
  std::optional<Encoding> encoding;   // from mcorps-encoding, else content-type
  std::optional<std::string> type;    // ce_type, or content-type's proto= parameter
  std::optional<std::string> id;      // ce_id
  std::optional<std::string> source;  // ce_source
  std::optional<std::string> time;    // ce_time
  std::optional<TraceContext> trace;  // a valid traceparent
  // Malformed values found (e.g. a bad traceparent), never fatal.
  std::vector<std::string> problems;
};
ReceivedHeaders ParseHeaders(const Headers& headers);

}  // namespace messagecorps
