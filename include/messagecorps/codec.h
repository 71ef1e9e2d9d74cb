// messagecorps/codec.h — how a protobuf message becomes a Kafka record value, and back.
//
// Three encodings, chosen per topic (TopicOptions) and detected on receive:
//   kSeed      zlib (RFC 1950: deflate with zlib header, default level) of the serialized message —
//              the original MessageCorps wire format, byte-compatible with Python's zlib.compress.
//   kRaw       the serialized message as is. Kafka-level lz4/zstd compression is set on the
//   producer
//              (`compression.type`), not here.
//   kConfluent Confluent Schema Registry framing: magic byte 0x00, 4-byte big-endian schema id, the
//              message-index path as zigzag varints (count first), the `[0]` path written as a
//              single 0 byte, then the serialized message.
// Detection on receive: the `mcorps-encoding` / content-type header first; without headers (records
// of the original) by content: a valid zlib header (0x78 + FCHECK) means seed, a 0x00 first byte
// means confluent, anything else raw.
//
// Every malformed input is an error value (never a crash, never an exception):
//   kInvalidArgument   truncated/corrupt zlib, bad Confluent magic, bad varint, a payload that does
//   not
//                      parse as the expected type
//   kResourceExhausted the record is larger than DecodeLimits::max_record_bytes, or the
//   decompressed
//                      size would exceed DecodeLimits::max_decoded_bytes (zlib bomb); reason
//                      kDecodeLimit (error.h)
//
// Thread-safety: all functions are reentrant; they share no state between threads (each thread
// keeps its own zlib streams and serialization buffer, created on first use and reused).
// Allocation: Encode/Unwrap reuse the caller's buffers (`out`, `scratch`) and those per-thread
// ones, so a caller that keeps them across messages allocates nothing per message once they have
// grown (Decode may still allocate inside the parsed message, e.g. for sub-messages).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace google::protobuf {
class Descriptor;
class Message;
class MessageLite;
}  // namespace google::protobuf

namespace messagecorps {

enum class Encoding { kSeed, kRaw, kConfluent };

// "seed", "raw", "confluent"
std::string_view EncodingName(Encoding e);
// Parses a name (case-insensitive); kInvalidArgument naming the value otherwise.
absl::StatusOr<Encoding> ParseEncoding(std::string_view name);

struct EncodeOptions {
  Encoding encoding = Encoding::kSeed;
  int zlib_level = -1;  // Z_DEFAULT_COMPRESSION, as the original; -1..9, else kInvalidArgument
  // kConfluent only:
  int32_t schema_id = 0;
  // The type's path in its schema file (Confluent's message indexes: [2] for the third top-level
  // message, [1, 0] for the first nested in the second). Empty: derived from the message's type
  // when Encode is given a Message, as confluent-kafka's ProtobufSerializer does
  // (tests/data/golden/vectors.json); [0] for a MessageLite and for EncodeSerialized. A negative
  // index is kInvalidArgument.
  std::vector<int32_t> message_indexes;
};

// Bounds on what decoding one record may cost; beyond either, decoding stops with
// kResourceExhausted (reason kDecodeLimit) and the record is reported, not parsed (the Consumer
// returns it with that decode_status, the Router dead-letters it as "decode_limit").
// The defaults, 64 MiB each, are protobuf's own parse limit before 3.6 (CodedInputStream's
// total_bytes_limit): far above Kafka's default record size limit (~1 MiB), small enough that one
// bad record costs a bounded buffer. A zlib bomb (1 KB can inflate to 1 MB) is refused once 64 MiB
// have been inflated, not inflated to the end.
struct DecodeLimits {
  // Largest decompressed (seed) payload accepted.
  size_t max_decoded_bytes = 64u << 20;
  // Largest record value accepted, any encoding, checked before anything else.
  size_t max_record_bytes = 64u << 20;
};

// Serializes and encodes `message` into *out (its previous content is replaced).
absl::Status Encode(const google::protobuf::MessageLite& message, const EncodeOptions& options,
                    std::string* out);

// Encodes already-serialized protobuf bytes (for tools and benchmarks that hold bytes).
// `serialized` must not point into *out.
absl::Status EncodeSerialized(std::string_view serialized, const EncodeOptions& options,
                              std::string* out);

// Guesses the encoding of a record value that came without an encoding header. The empty value is
// kRaw (the empty message). Ambiguity: a raw message starting with field 15 (tag 0x78) whose second
// byte happens to complete a zlib header is taken for seed; header-less records come from the
// original, which only wrote seed.
Encoding DetectEncoding(std::string_view value);

// True when `value` alone does not settle its encoding for a message of `type`: it starts with a
// zlib header (DetectEncoding says seed) and a raw `type` message could start with the same bytes,
// i.e. `type` has a field 15 of a varint type (tag byte 0x78), or `type` is null (unknown). A
// receiver reads the `mcorps-encoding` header for such a value only. Every other value has one
// possible encoding: a Confluent frame starts with 0x00 (never a protobuf tag), zlib with 0x78 +
// FCHECK, and a raw message that starts otherwise is neither. (A header naming another encoding
// than the bytes allow could only make decoding fail.)
bool EncodingAmbiguous(std::string_view value, const google::protobuf::Descriptor* type);

// The Confluent framing of a value. kInvalidArgument for a bad magic byte, a header shorter than 6
// bytes, a truncated or overlong (> 5 bytes / 32 bits) varint, a negative index count or index, or
// a count larger than the bytes left.
struct ConfluentFrame {
  int32_t schema_id = 0;
  std::vector<int32_t> message_indexes;  // [0] when the single-0 shortcut was used
  size_t header_size = 0;                // bytes before the serialized message
};
absl::StatusOr<ConfluentFrame> ParseConfluentFrame(std::string_view value);

// Strips the encoding: the serialized protobuf bytes of `value`. For kRaw a view of `value` itself
// is returned; for kSeed the bytes are inflated into *scratch and a view of it is returned; for
// kConfluent a view past the framing. The view is valid while `value` and `*scratch` are. `scratch`
// may be null except for kSeed (kInvalidArgument); `value` must not point into *scratch.
absl::StatusOr<std::string_view> Unwrap(std::string_view value, Encoding encoding,
                                        const DecodeLimits& limits, std::string* scratch);

// Parses `payload`, what Unwrap returned for a value of `encoding`, into *out: cleared first (and
// again on failure) when `merge` is false, merged into it as DecodeInto does when true.
// kInvalidArgument naming the encoding, the size and the type when the bytes do not parse.
absl::Status ParsePayload(std::string_view payload, Encoding encoding,
                          google::protobuf::Message* out, bool merge);

// Unwrap + parse into *out (cleared first). A parse failure is kInvalidArgument naming the type.
absl::Status Decode(std::string_view value, Encoding encoding, google::protobuf::Message* out,
                    const DecodeLimits& limits, std::string* scratch);
// The same without clearing *out first: the value is merged into it (protobuf merge rules). For
// a message prepared for reuse (cleared, with sub-messages kept so that parsing reuses their
// storage, as the Consumer's pool does). After a failure *out is partly merged: discard it.
absl::Status DecodeInto(std::string_view value, Encoding encoding, google::protobuf::Message* out,
                        const DecodeLimits& limits, std::string* scratch);

// The original's REST form: {"protobuf": "<lowercase hex of the serialized bytes>"}.
std::string ToSeedRestJson(std::string_view serialized);
// Parses that form back to the serialized bytes (hex digits of either case; other members are
// ignored). kInvalidArgument on bad JSON, a missing or non-string "protobuf", or bad hex.
absl::StatusOr<std::string> FromSeedRestJson(std::string_view json);

}  // namespace messagecorps
