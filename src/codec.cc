#include "messagecorps/codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/message_lite.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

absl::Status Invalid(std::string_view what) {
  return MakeError(absl::StatusCode::kInvalidArgument, what, ErrorReason::kMalformedRecord);
}

// zlib counts in uInt (32 bits); protobuf serializes at most INT_MAX bytes. Kafka records are far
// smaller, so larger inputs are rejected instead of being fed in pieces.
constexpr size_t kMaxZlibInput = INT_MAX;

// deflateInit allocates ~256 KB of state; one stream per thread, reset per message, keeps encoding
// allocation-free. Re-initialized only when the level changes.
class ThreadDeflater {
 public:
  ~ThreadDeflater() {
    if (initialized_) deflateEnd(&stream_);
  }

  // A stream ready for a new message at `level`, or null when zlib cannot allocate.
  z_stream* Get(int level) {
    if (initialized_ && level == level_) {
      if (deflateReset(&stream_) == Z_OK) return &stream_;
    }
    if (initialized_) {
      deflateEnd(&stream_);
      initialized_ = false;
    }
    std::memset(&stream_, 0, sizeof stream_);
    // Exactly what Python's zlib.compress(data, level) does: deflateInit2 with the default window
    // (15 bits, zlib header), memLevel 8 and the default strategy.
    if (deflateInit2(&stream_, level, Z_DEFLATED, MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      return nullptr;
    }
    initialized_ = true;
    level_ = level;
    return &stream_;
  }

 private:
  z_stream stream_{};
  bool initialized_ = false;
  int level_ = 0;
};

class ThreadInflater {
 public:
  ~ThreadInflater() {
    if (initialized_) inflateEnd(&stream_);
  }

  z_stream* Get() {
    if (initialized_) {
      if (inflateReset(&stream_) == Z_OK) return &stream_;
      inflateEnd(&stream_);
      initialized_ = false;
    }
    std::memset(&stream_, 0, sizeof stream_);
    // windowBits 15: a zlib (RFC 1950) header is required; gzip and raw deflate are rejected.
    if (inflateInit2(&stream_, MAX_WBITS) != Z_OK) return nullptr;
    initialized_ = true;
    return &stream_;
  }

 private:
  z_stream stream_{};
  bool initialized_ = false;
};

ThreadDeflater& Deflater() {
  thread_local ThreadDeflater deflater;
  return deflater;
}

ThreadInflater& Inflater() {
  thread_local ThreadInflater inflater;
  return inflater;
}

// Seed encoding: zlib of `serialized`, written to *out (replacing its content).
absl::Status Deflate(std::string_view serialized, int level, std::string* out) {
  if (serialized.size() > kMaxZlibInput) {
    return Invalid(absl::StrCat("seed encoding: message of ", serialized.size(),
                                " bytes is larger than the 2 GiB zlib/protobuf limit"));
  }
  z_stream* zs = Deflater().Get(level);
  if (zs == nullptr) return absl::ResourceExhaustedError("seed encoding: zlib deflateInit failed");
  // deflateBound for this stream's parameters is enough for a single Z_FINISH call; resize() only
  // allocates when *out has never been that large.
  const uLong bound = deflateBound(zs, static_cast<uLong>(serialized.size()));
  out->resize(bound);
  zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(serialized.data()));
  zs->avail_in = static_cast<uInt>(serialized.size());
  zs->next_out = reinterpret_cast<Bytef*>(out->data());
  zs->avail_out = static_cast<uInt>(bound);
  const int rc = deflate(zs, Z_FINISH);
  if (rc != Z_STREAM_END) {
    out->clear();
    return absl::InternalError(absl::StrCat("seed encoding: zlib deflate returned ", rc));
  }
  out->resize(zs->total_out);
  return absl::OkStatus();
}

// A refused (bomb) payload: its buffer is released, so a thread that met one does not keep up to
// `limit` bytes of scratch for the rest of its life.
absl::Status OverLimit(size_t limit, std::string* scratch) {
  scratch->clear();
  scratch->shrink_to_fit();
  return MakeError(absl::StatusCode::kResourceExhausted,
                   absl::StrCat("seed decoding: decompressed payload exceeds the limit of ", limit,
                                " bytes (DecodeLimits::max_decoded_bytes; a zlib bomb?)"),
                   ErrorReason::kDecodeLimit);
}

absl::Status Inflate(std::string_view value, size_t limit, std::string* scratch) {
  if (value.size() > kMaxZlibInput) {
    return Invalid(absl::StrCat("seed decoding: value of ", value.size(), " bytes is too large"));
  }
  z_stream* zs = Inflater().Get();
  if (zs == nullptr) return absl::ResourceExhaustedError("seed decoding: zlib inflateInit failed");

  // The buffer never grows past limit + 1: one byte beyond the limit proves the stream is too big.
  const size_t cap = limit == std::numeric_limits<size_t>::max() ? limit : limit + 1;
  constexpr size_t kMinChunk = 16 << 10;
  size_t size = std::min(cap, std::max(kMinChunk, value.size() * 4));
  if (scratch->size() < size) scratch->resize(size);
  size = scratch->size();  // a buffer that is already larger is used as is (up to the cap below)
  size = std::min(size, cap);
  size_t produced = 0;

  zs->next_in = reinterpret_cast<Bytef*>(const_cast<char*>(value.data()));
  zs->avail_in = static_cast<uInt>(value.size());
  for (;;) {
    if (produced == size) {
      if (size >= cap) return OverLimit(limit, scratch);
      // Grow geometrically, never beyond the cap.
      size = std::min(cap, std::max(size * 2, kMinChunk));
      if (scratch->size() < size) scratch->resize(size);
    }
    const size_t room = std::min<size_t>(size - produced, std::numeric_limits<uInt>::max());
    zs->next_out = reinterpret_cast<Bytef*>(scratch->data() + produced);
    zs->avail_out = static_cast<uInt>(room);
    const int rc = inflate(zs, Z_NO_FLUSH);
    produced += room - zs->avail_out;
    if (produced > limit) return OverLimit(limit, scratch);
    if (rc == Z_STREAM_END) break;
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && zs->avail_out == 0) continue;  // output full: grow and go on
    scratch->clear();
    switch (rc) {
      case Z_BUF_ERROR:
        return Invalid(absl::StrCat("seed decoding: truncated zlib stream (input ended after ",
                                    value.size(), " bytes, before the end of the stream)"));
      case Z_NEED_DICT:
        return Invalid("seed decoding: zlib stream needs a preset dictionary (not supported)");
      case Z_DATA_ERROR:
        return Invalid(absl::StrCat("seed decoding: corrupt zlib stream: ",
                                    zs->msg != nullptr ? zs->msg : "data error"));
      case Z_MEM_ERROR:
        return absl::ResourceExhaustedError("seed decoding: zlib is out of memory");
      default:
        return absl::InternalError(absl::StrCat("seed decoding: zlib inflate returned ", rc));
    }
  }
  if (zs->avail_in != 0) {
    const size_t trailing = zs->avail_in;
    scratch->clear();
    return Invalid(absl::StrCat("seed decoding: ", trailing,
                                " bytes of trailing garbage after the end of the zlib stream"));
  }
  scratch->resize(produced);
  return absl::OkStatus();
}

uint32_t ZigZag(int32_t n) { return (static_cast<uint32_t>(n) << 1) ^ (n < 0 ? 0xFFFFFFFFu : 0u); }

int32_t UnZigZag(uint32_t n) { return static_cast<int32_t>((n >> 1) ^ (0u - (n & 1))); }

void AppendVarint(uint32_t v, std::string* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<char>((v & 0x7F) | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<char>(v));
}

// Reads a zigzag varint of at most 5 bytes (32 bits), as Confluent's serializers write them.
absl::Status ReadZigZag(std::string_view value, size_t* pos, const char* what, int32_t* result) {
  uint32_t v = 0;
  for (int i = 0; i < 5; ++i) {
    if (*pos >= value.size()) {
      return Invalid(
          absl::StrCat("confluent framing: truncated varint (", what, ") at byte ", *pos));
    }
    const uint8_t b = static_cast<uint8_t>(value[(*pos)++]);
    if (i == 4 && (b & 0xF0) != 0) {
      return Invalid(
          absl::StrCat("confluent framing: overlong varint (", what, ") at byte ", *pos - 1));
    }
    v |= static_cast<uint32_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      *result = UnZigZag(v);
      return absl::OkStatus();
    }
  }
  return Invalid(
      absl::StrCat("confluent framing: overlong varint (", what, ") at byte ", *pos - 1));
}

// The first message type of its file: Confluent's [0], the framing's single-0 shortcut.
bool IsFirstTopLevel(const google::protobuf::Descriptor* type) {
  return type->containing_type() == nullptr && type->index() == 0;
}

// Writes magic, schema id and message indexes to *out (replacing its content).
absl::Status WriteConfluentHeader(const EncodeOptions& options, std::string* out) {
  out->clear();
  const auto id = static_cast<uint32_t>(options.schema_id);
  out->push_back('\0');
  out->push_back(static_cast<char>(id >> 24));
  out->push_back(static_cast<char>(id >> 16));
  out->push_back(static_cast<char>(id >> 8));
  out->push_back(static_cast<char>(id));
  const auto& idx = options.message_indexes;
  if (idx.empty() || (idx.size() == 1 && idx[0] == 0)) {
    out->push_back('\0');
    return absl::OkStatus();
  }
  if (idx.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Invalid("confluent framing: too many message indexes");
  }
  AppendVarint(ZigZag(static_cast<int32_t>(idx.size())), out);
  for (int32_t i : idx) {
    if (i < 0) return Invalid(absl::StrCat("confluent framing: negative message index ", i));
    AppendVarint(ZigZag(i), out);
  }
  return absl::OkStatus();
}

absl::Status CheckLevel(int level) {
  if (level < Z_DEFAULT_COMPRESSION || level > Z_BEST_COMPRESSION) {
    return Invalid(absl::StrCat("zlib_level ", level, " is not in -1..9"));
  }
  return absl::OkStatus();
}

// The serialized bytes of the message, for the seed path (compressed afterwards).
std::string& SerializeBuffer() {
  thread_local std::string buffer;
  return buffer;
}

// Serializes `message` after the `prefix` bytes already in *out. ByteSizeLong caches sizes, so the
// write that follows walks the message once more without recomputing them.
absl::Status SerializeAppend(const google::protobuf::MessageLite& message, std::string* out) {
  const size_t size = message.ByteSizeLong();
  if (size > static_cast<size_t>(INT_MAX)) {
    return Invalid(absl::StrCat("message of type ", message.GetTypeName(), " is ", size,
                                " bytes, larger than protobuf's 2 GiB limit"));
  }
  const size_t prefix = out->size();
  out->resize(prefix + size);
  message.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(out->data() + prefix));
  return absl::OkStatus();
}

constexpr char kHexDigits[] = "0123456789abcdef";

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string_view EncodingName(Encoding e) {
  switch (e) {
    case Encoding::kSeed:
      return "seed";
    case Encoding::kRaw:
      return "raw";
    case Encoding::kConfluent:
      return "confluent";
  }
  return "unknown";
}

absl::StatusOr<Encoding> ParseEncoding(std::string_view name) {
  auto equals = [name](std::string_view want) {
    return name.size() == want.size() &&
           std::equal(name.begin(), name.end(), want.begin(), [](char a, char b) {
             return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
           });
  };
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
    if (equals(EncodingName(e))) return e;
  }
  return Invalid(
      absl::StrCat("unknown encoding \"", AsAbsl(name), "\" (expected seed, raw or confluent)"));
}

absl::Status Encode(const google::protobuf::MessageLite& message, const EncodeOptions& options,
                    std::string* out) {
  if (out == nullptr) return Invalid("Encode: out is null");
  switch (options.encoding) {
    case Encoding::kRaw:
      out->clear();
      return SerializeAppend(message, out);
    case Encoding::kConfluent: {
      absl::Status s;
      // No indexes given: the type's own path (Confluent's rule), when the message has a
      // descriptor; [0] otherwise (a MessageLite).
      const auto* full = options.message_indexes.empty()
                             ? dynamic_cast<const google::protobuf::Message*>(&message)
                             : nullptr;
      if (full != nullptr && !IsFirstTopLevel(full->GetDescriptor())) {
        thread_local EncodeOptions derived;
        derived.schema_id = options.schema_id;
        derived.message_indexes.clear();  // capacity kept: no allocation once grown
        for (auto* t = full->GetDescriptor(); t != nullptr; t = t->containing_type()) {
          derived.message_indexes.push_back(t->index());
        }
        std::reverse(derived.message_indexes.begin(), derived.message_indexes.end());
        s = WriteConfluentHeader(derived, out);
      } else {
        s = WriteConfluentHeader(options, out);
      }
      if (!s.ok()) return s;
      return SerializeAppend(message, out);
    }
    case Encoding::kSeed: {
      if (absl::Status s = CheckLevel(options.zlib_level); !s.ok()) return s;
      std::string& buffer = SerializeBuffer();
      buffer.clear();
      if (absl::Status s = SerializeAppend(message, &buffer); !s.ok()) return s;
      return Deflate(buffer, options.zlib_level, out);
    }
  }
  return Invalid("Encode: unknown encoding");
}

absl::Status EncodeSerialized(std::string_view serialized, const EncodeOptions& options,
                              std::string* out) {
  if (out == nullptr) return Invalid("EncodeSerialized: out is null");
  switch (options.encoding) {
    case Encoding::kRaw:
      out->assign(serialized.data(), serialized.size());
      return absl::OkStatus();
    case Encoding::kConfluent: {
      absl::Status s = WriteConfluentHeader(options, out);
      if (!s.ok()) return s;
      out->append(serialized.data(), serialized.size());
      return absl::OkStatus();
    }
    case Encoding::kSeed:
      if (absl::Status s = CheckLevel(options.zlib_level); !s.ok()) return s;
      return Deflate(serialized, options.zlib_level, out);
  }
  return Invalid("EncodeSerialized: unknown encoding");
}

Encoding DetectEncoding(std::string_view value) {
  if (value.empty()) return Encoding::kRaw;  // the empty message
  const auto b0 = static_cast<uint8_t>(value[0]);
  if (b0 == 0x00) return Encoding::kConfluent;  // a protobuf tag is never 0
  if (value.size() >= 2 && b0 == 0x78 && ((b0 << 8) | static_cast<uint8_t>(value[1])) % 31 == 0) {
    return Encoding::kSeed;
  }
  return Encoding::kRaw;
}

bool EncodingAmbiguous(std::string_view value, const google::protobuf::Descriptor* type) {
  if (DetectEncoding(value) != Encoding::kSeed) return false;
  if (type == nullptr) return true;
  // Tag 0x78 is field 15, wire type varint; parsers take it for repeated fields too (unpacked).
  const google::protobuf::FieldDescriptor* f = type->FindFieldByNumber(15);
  if (f == nullptr) return false;
  using FD = google::protobuf::FieldDescriptor;
  switch (f->type()) {
    case FD::TYPE_INT32:
    case FD::TYPE_INT64:
    case FD::TYPE_UINT32:
    case FD::TYPE_UINT64:
    case FD::TYPE_SINT32:
    case FD::TYPE_SINT64:
    case FD::TYPE_BOOL:
    case FD::TYPE_ENUM:
      return true;
    default:
      return false;
  }
}

absl::StatusOr<ConfluentFrame> ParseConfluentFrame(std::string_view value) {
  if (value.empty()) return Invalid("confluent framing: empty value");
  if (value[0] != '\0') {
    return Invalid(absl::StrCat("confluent framing: bad magic byte 0x",
                                absl::Hex(static_cast<uint8_t>(value[0]), absl::kZeroPad2),
                                " (expected 0x00)"));
  }
  if (value.size() < 6) {
    return Invalid(absl::StrCat("confluent framing: truncated header (", value.size(),
                                " bytes; magic, schema id and message indexes need at least 6)"));
  }
  ConfluentFrame frame;
  const auto* p = reinterpret_cast<const uint8_t*>(value.data());
  frame.schema_id = static_cast<int32_t>((uint32_t{p[1]} << 24) | (uint32_t{p[2]} << 16) |
                                         (uint32_t{p[3]} << 8) | uint32_t{p[4]});
  size_t pos = 5;
  int32_t count = 0;
  if (absl::Status s = ReadZigZag(value, &pos, "index count", &count); !s.ok()) return s;
  if (count < 0) {
    return Invalid(absl::StrCat("confluent framing: negative message index count ", count));
  }
  if (count == 0) {
    frame.message_indexes.push_back(0);
  } else {
    // Every index takes at least one byte: a larger count cannot be real (and must not drive an
    // allocation).
    if (static_cast<size_t>(count) > value.size() - pos) {
      return Invalid(absl::StrCat("confluent framing: message index count ", count, " exceeds the ",
                                  value.size() - pos, " remaining bytes"));
    }
    frame.message_indexes.reserve(static_cast<size_t>(count));
    for (int32_t i = 0; i < count; ++i) {
      int32_t index = 0;
      if (absl::Status s = ReadZigZag(value, &pos, "message index", &index); !s.ok()) return s;
      if (index < 0) {
        return Invalid(absl::StrCat("confluent framing: negative message index ", index));
      }
      frame.message_indexes.push_back(index);
    }
  }
  frame.header_size = pos;
  return frame;
}

absl::StatusOr<std::string_view> Unwrap(std::string_view value, Encoding encoding,
                                        const DecodeLimits& limits, std::string* scratch) {
  if (value.size() > limits.max_record_bytes) {
    return MakeError(
        absl::StatusCode::kResourceExhausted,
        absl::StrCat("record value of ", value.size(), " bytes exceeds the limit of ",
                     limits.max_record_bytes, " bytes (DecodeLimits::max_record_bytes)"),
        ErrorReason::kDecodeLimit);
  }
  switch (encoding) {
    case Encoding::kRaw:
      return value;
    case Encoding::kConfluent: {
      absl::StatusOr<ConfluentFrame> frame = ParseConfluentFrame(value);
      if (!frame.ok()) return frame.status();
      return value.substr(frame->header_size);
    }
    case Encoding::kSeed: {
      if (scratch == nullptr) return Invalid("seed decoding: scratch buffer is null");
      absl::Status s = Inflate(value, limits.max_decoded_bytes, scratch);
      if (!s.ok()) return s;
      return std::string_view(*scratch);
    }
  }
  return Invalid("Unwrap: unknown encoding");
}

absl::Status ParsePayload(std::string_view payload, Encoding encoding,
                          google::protobuf::Message* out, bool merge) {
  if (out == nullptr) return Invalid("Decode: out is null");
  if (!merge) out->Clear();
  bool ok = payload.size() <= static_cast<size_t>(INT_MAX);
  if (ok && merge) {
    const int size = static_cast<int>(payload.size());
    google::protobuf::io::ArrayInputStream in(payload.data(), size);
    ok = out->MergeFromBoundedZeroCopyStream(&in, size);
  } else if (ok) {
    ok = out->ParseFromArray(payload.data(), static_cast<int>(payload.size()));
  }
  if (!ok) {
    if (!merge) out->Clear();
    return Invalid(absl::StrCat(AsAbsl(EncodingName(encoding)), " payload of ", payload.size(),
                                " bytes does not parse as ", out->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

absl::Status Decode(std::string_view value, Encoding encoding, google::protobuf::Message* out,
                    const DecodeLimits& limits, std::string* scratch) {
  if (out == nullptr) return Invalid("Decode: out is null");
  out->Clear();
  absl::StatusOr<std::string_view> payload = Unwrap(value, encoding, limits, scratch);
  if (!payload.ok()) return payload.status();
  return ParsePayload(*payload, encoding, out, /*merge=*/false);
}

absl::Status DecodeInto(std::string_view value, Encoding encoding, google::protobuf::Message* out,
                        const DecodeLimits& limits, std::string* scratch) {
  if (out == nullptr) return Invalid("Decode: out is null");
  absl::StatusOr<std::string_view> payload = Unwrap(value, encoding, limits, scratch);
  if (!payload.ok()) return payload.status();
  return ParsePayload(*payload, encoding, out, /*merge=*/true);
}

std::string ToSeedRestJson(std::string_view serialized) {
  // The hex digits never need JSON escaping, so the object is written directly.
  static constexpr std::string_view kPrefix = "{\"protobuf\":\"";
  static constexpr std::string_view kSuffix = "\"}";
  std::string json;
  json.reserve(kPrefix.size() + serialized.size() * 2 + kSuffix.size());
  json.append(kPrefix);
  for (char c : serialized) {
    const auto b = static_cast<uint8_t>(c);
    json.push_back(kHexDigits[b >> 4]);
    json.push_back(kHexDigits[b & 0xF]);
  }
  json.append(kSuffix);
  return json;
}

absl::StatusOr<std::string> FromSeedRestJson(std::string_view json) {
  const nlohmann::json doc =
      nlohmann::json::parse(json.begin(), json.end(), /*cb=*/nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Invalid("REST form: not valid JSON");
  if (!doc.is_object())
    return Invalid("REST form: expected a JSON object {\"protobuf\": \"<hex>\"}");
  const auto it = doc.find("protobuf");
  if (it == doc.end()) return Invalid("REST form: missing \"protobuf\" member");
  if (!it->is_string()) return Invalid("REST form: \"protobuf\" is not a string");
  const std::string& hex = it->get_ref<const std::string&>();
  if (hex.size() % 2 != 0) {
    return Invalid(absl::StrCat("REST form: odd number of hex digits (", hex.size(), ")"));
  }
  std::string bytes(hex.size() / 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    const int hi = HexValue(hex[2 * i]);
    const int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Invalid(
          absl::StrCat("REST form: invalid hex digit at position ", hi < 0 ? 2 * i : 2 * i + 1));
    }
    bytes[i] = static_cast<char>((hi << 4) | lo);
  }
  return bytes;
}

}  // namespace messagecorps
