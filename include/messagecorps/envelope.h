// messagecorps/envelope.h — stamping the `_message_data` envelope, as the original MessageCorps
// did.
//
// On send, a message whose type has a field `_message_data` of type `protobuf.common.messageData`
// gets:
//   uuid            a fresh version-1 UUID (canonical text form)
//   iso_date        UTC now, ISO 8601 with offset: 2018-07-30T08:26:31.123456+00:00 (always six
//                   fraction digits; Python's isoformat() drops them when the microsecond is 0)
//   timestamp       Unix seconds as a double (the original left it 0)
//   environment     EnvelopeSettings::environment (default: $ENVIRONMENT, else DEVELOPMENT)
//   sending_service EnvelopeSettings::service (default: $LOG_TAG_SERVICE, else "NOTSET")
//   trace_id        kept if already set, else the parent's trace if a parent is given, else fresh
//   span_id         fresh per send; parent_span_id = the parent's span when derived from a message
//                   (cleared otherwise)
//   type            the message's full type name (field 11, a messagecorps addition the original's
//                   readers skip as an unknown field): the record names its type in its value, so a
//                   receiver needs no ce_type header to find or check it
// Types without that field are allowed: the same envelope then travels in headers only
// (see cloud_events.h). Works for generated and dynamic (descriptor-set) messages via reflection.
//
// Thread-safety: Stamp may be called concurrently on different messages. EnvelopeSettings is a
// value. Allocation: none of its own when a generated `message` is reused (protobuf reuses string
// capacity). Dynamic envelopes go through Reflection::SetString, which takes std::string by value.
#pragma once

#include <array>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "messagecorps/trace_context.h"
#include "protobuf/common/MessageData.pb.h"

namespace google::protobuf {
class Message;
class Descriptor;
}  // namespace google::protobuf

namespace messagecorps {

// Who is sending. Explicit values override the environment.
struct EnvelopeSettings {
  std::string service = "NOTSET";
  protobuf::common::Environment environment = protobuf::common::DEVELOPMENT;

  // Reads LOG_TAG_SERVICE and ENVIRONMENT (an enum name such as PRODUCTION, case-insensitive).
  // An unknown ENVIRONMENT value is kInvalidArgument (misconfiguration is loud, not silent).
  static absl::StatusOr<EnvelopeSettings> FromEnvironment();
};

// The envelope of one send, in fixed buffers (no allocation). Views stay valid while it lives.
struct Envelope {
  std::array<char, 36> uuid{};
  std::array<char, 32> iso_date{};  // "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" (32 chars)
  double timestamp = 0;             // Unix seconds
  std::chrono::system_clock::time_point time;
  TraceContext trace;  // trace id, this send's span id, parent span id
  protobuf::common::Environment environment = protobuf::common::DEVELOPMENT;
  std::string_view service;  // points into the EnvelopeSettings used
  std::string_view type;     // the message's full type name (Stamp; empty from MakeEnvelope)

  std::string_view uuid_view() const { return {uuid.data(), uuid.size()}; }
  std::string_view iso_date_view() const { return {iso_date.data(), iso_date.size()}; }
};

// Clock for tests; defaults to system_clock::now.
using Clock = std::function<std::chrono::system_clock::time_point()>;

// Formats `t` as the original's iso_date (microseconds, "+00:00").
void FormatIsoDate(std::chrono::system_clock::time_point t, std::array<char, 32>& out);

// True when the message type has a `_message_data` field of type protobuf.common.messageData.
// Cached per descriptor; thread-safe.
bool HasEnvelopeField(const google::protobuf::Descriptor* type);
// That field, or nullptr when the type has none. Cached likewise.
const google::protobuf::FieldDescriptor* EnvelopeField(const google::protobuf::Descriptor* type);

// Stamps `message` (if it has the field) and returns the envelope used.
//  parent: the trace of the message this one derives from (may be null or empty).
// Trace rule: an existing `_message_data.trace_id` in `message` wins; else parent's trace; else
// new. kInvalidArgument if an existing trace_id in the message is not 32 hex digits (the original's
// ids always are; anything else would break the traceparent mapping).
absl::StatusOr<Envelope> Stamp(google::protobuf::Message& message, const EnvelopeSettings& settings,
                               const TraceContext* parent = nullptr, const Clock& clock = nullptr);

// Same for a type without an envelope field: only builds the Envelope (for headers).
Envelope MakeEnvelope(const EnvelopeSettings& settings, const TraceContext* parent = nullptr,
                      const Clock& clock = nullptr);

// On receive, as the original: overwrite `_message_data.offset` and `.partition` (no-op for types
// without the field).
void FillReceiveInfo(google::protobuf::Message& message, int64_t offset, int32_t partition);

// The `_message_data.type` written in `serialized` (the protobuf bytes of a message whose envelope
// field has number `envelope_field_number`), read from the wire format without parsing the message:
// every occurrence of that field counts (protobuf merges them), the last `type` wins. nullopt when
// no envelope in the bytes names a type (records of the original, other types) or when the bytes
// are not well-formed protobuf up to there (groups included: the parse that follows reports it).
// The view points into `serialized`. No allocation.
std::optional<std::string_view> EnvelopeTypeInBytes(std::string_view serialized,
                                                    int envelope_field_number);

// For a record whose type is not known in advance: the type named by an envelope in `serialized`,
// when `find_type` maps that name to a type whose `_message_data` field has the number of the
// top-level field the name was found in (so a string in another sub-message is not taken for it).
// nullptr when there is none.
const google::protobuf::Descriptor* FindEnvelopeType(
    std::string_view serialized,
    const std::function<const google::protobuf::Descriptor*(std::string_view)>& find_type);

// The envelope uuid in `serialized` without knowing the type: the `uuid` (field 4) of the first
// top-level sub-message that walks as an envelope stamped by this library (a `type`, field 11,
// and a 36-character uuid). For delivery reports of records sent without a ce_id header.
std::optional<std::string_view> EnvelopeUuidInBytes(std::string_view serialized);

// The `_message_data` of `message`, or nullptr when the type has none. For dynamic messages the
// returned Message is a DynamicMessage (not a protobuf::common::messageData).
const google::protobuf::Message* EnvelopeOf(const google::protobuf::Message& message);

// The trace carried by a received message: from its `_message_data` (trace_id + span_id) when
// present, else empty. Header-based lookup is in cloud_events.h.
TraceContext TraceOf(const google::protobuf::Message& message);

}  // namespace messagecorps
