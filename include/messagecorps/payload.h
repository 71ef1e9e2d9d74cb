// messagecorps/payload.h — a message of a topic's type from what a client sent, or an error that
// names the field.
//
// A gateway (or any program taking messages from outside) receives a message in one of several
// forms and must accept it only if it really is a message of the topic's bound type:
//   JSON          the protobuf JSON mapping (proto or lowerCamel names), strictly parsed: a syntax
//                 error is refused with its byte position, an unknown field is refused;
//   REST hex      the original MessageCorps' {"protobuf": "<hex of the serialized bytes>"};
//   encoded bytes a record value in one of the codec's encodings (seed zlib, raw, Confluent), or
//                 detected from the content as a consumer does for records without headers;
//   Any           a google.protobuf.Any: its type URL must name the bound type.
// Serialized bytes are checked field by field against the type before protobuf parses them, so
// that a malformed or wrong-typed message is refused with the path of the first bad field instead
// of protobuf's bare "failed to parse": a wire type the field cannot have, a length running past
// the end, a truncated varint, invalid UTF-8 in a proto3 string, nesting deeper than the limit, or
// a field number the type does not have (an unknown field is refused: it is the usual sign of a
// message of another type; a client on a newer schema must update the gateway's registry first).
//
// Errors are kInvalidArgument (kResourceExhausted when a seed payload inflates past
// PayloadLimits::max_bytes), reason ErrorReason::kMalformedRecord or kWrongType, with the field
// path attached: FieldPathOf(status) gives "frame", "_message_data.trace_id", "detections[2].box"
// ("" when the error is about the message as a whole). The message text starts with that path.
//
// Thread-safety: pure functions; `out` must not be shared while parsing. Allocation: parsing
// allocates inside `out` as protobuf does; the seed form inflates into `scratch`.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "messagecorps/codec.h"

namespace google::protobuf {
class Descriptor;
class Message;
}  // namespace google::protobuf

namespace messagecorps {

struct PayloadLimits {
  // Largest serialized message accepted, after inflating a seed payload (kResourceExhausted past
  // it) — the gateway's message size limit.
  size_t max_bytes = 4u << 20;
  // Deepest message nesting accepted (protobuf's own parser stops at 100).
  int max_depth = 64;
};

// The field path attached to `status` by the functions here (or by WithFieldPath); "" when none.
std::string FieldPathOf(const absl::Status& status);
// `status` with `path` attached as its field path (OK stays OK).
absl::Status WithFieldPath(absl::Status status, std::string_view path);

// Serialized protobuf bytes -> *out (cleared first), checked field by field against out's type.
absl::Status ParseSerialized(std::string_view serialized, google::protobuf::Message* out,
                             const PayloadLimits& limits = {});

// The error ParseSerialized would return for `serialized` as a message of `type`, without
// building a message; OK when the bytes are a valid `type`.
absl::Status CheckSerialized(std::string_view serialized, const google::protobuf::Descriptor* type,
                             const PayloadLimits& limits = {});

// True when `json` is the original's REST form for messages of `type`: a JSON object whose only
// member is "protobuf" with a string value, and `type` has no field of that name (a type that has
// one takes the object as its own JSON mapping).
bool IsSeedRestJson(std::string_view json, const google::protobuf::Descriptor* type);

// JSON text -> *out (cleared first): the REST hex form when IsSeedRestJson, else the protobuf JSON
// mapping of out's type.
absl::Status ParseJsonPayload(std::string_view json, google::protobuf::Message* out,
                              const PayloadLimits& limits = {});

// A record value in `encoding` (nullopt: detected from the content) -> *out (cleared first).
// `scratch` receives an inflated seed payload; it may not be null.
absl::Status ParseEncodedPayload(std::string_view value, std::optional<Encoding> encoding,
                                 google::protobuf::Message* out, std::string* scratch,
                                 const PayloadLimits& limits = {});

// A google.protobuf.Any's fields -> *out (cleared first). The type URL's last '/'-separated part
// must be out's full type name (kInvalidArgument, reason kWrongType, otherwise).
absl::Status ParseAnyPayload(std::string_view type_url, std::string_view value,
                             google::protobuf::Message* out, const PayloadLimits& limits = {});

}  // namespace messagecorps
