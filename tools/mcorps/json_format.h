// mcorps: messages and records as JSON — the protobuf JSON mapping (proto field names by default,
// camelCase with --json-camel), one object per record for `consume`, hex for raw bytes.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "messagecorps/cloud_events.h"

namespace google::protobuf {
class Message;
}
namespace messagecorps {
class ReceivedMessage;
}

namespace mcorps {

using Json = nlohmann::ordered_json;  // keeps fields in the order they were written

struct PrintOptions {
  bool camel_case = false;       // lowerCamelCase names instead of the .proto names
  bool emit_defaults = false;    // also print fields that hold their default value
  bool summarize_bytes = false;  // bytes fields as "<N bytes>" (for humans: --format pretty)
};

// The message in the protobuf JSON mapping (bytes as base64, 64-bit integers as strings, enums
// by name). kInvalidArgument when protobuf refuses (e.g. a string field with invalid UTF-8).
absl::StatusOr<Json> MessageToJson(const google::protobuf::Message& message,
                                   const PrintOptions& options);

// Parses one JSON object into `out` (cleared first); proto names and camelCase are both accepted.
// Unknown fields are errors. The error text is protobuf's, which names the offending field.
absl::Status ParseMessageJson(std::string_view json, google::protobuf::Message* out);

// Replaces each bytes field of `json` (the JSON of a `type` message) by "<N bytes>".
void SummarizeBytes(Json& json, const google::protobuf::Descriptor* type, bool camel_case);

// Lowercase hex, two digits per byte.
std::string ToHex(std::string_view bytes);

// Header list as an object; a name that repeats maps to an array of its values, in order.
Json HeadersToJson(const messagecorps::Headers& headers);

// One record: topic, partition, offset, timestamp (ms, null if none), key (null if none),
// headers, encoding, then `type` + `message` when it decoded, else `error` + `value_hex`.
Json RecordToJson(const messagecorps::ReceivedMessage& record, const PrintOptions& options);

// Serializes without throwing: bytes that are not UTF-8 become U+FFFD. indent < 0: one line.
std::string DumpJson(const Json& json, int indent = -1);

}  // namespace mcorps
