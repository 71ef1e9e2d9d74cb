#include "messagecorps/payload.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "messagecorps/error.h"
#include "messagecorps/string_view.h"

namespace messagecorps {
namespace {

namespace pb = google::protobuf;

constexpr absl::string_view kFieldPathUrl = "type.messagecorps.dev/FieldPath";

// "path: problem" (or just the problem for the whole message), kInvalidArgument with the path
// attached.
absl::Status FieldError(std::string_view path, std::string_view problem,
                        ErrorReason reason = ErrorReason::kMalformedRecord) {
  std::string text =
      path.empty() ? std::string(problem) : absl::StrCat(AsAbsl(path), ": ", AsAbsl(problem));
  return WithFieldPath(MakeError(absl::StatusCode::kInvalidArgument, text, reason), path);
}

const char* WireTypeName(int wire_type) {
  switch (wire_type) {
    case 0:
      return "varint";
    case 1:
      return "64-bit";
    case 2:
      return "length-delimited";
    case 3:
      return "group start";
    case 4:
      return "group end";
    case 5:
      return "32-bit";
  }
  return "invalid";
}

// The wire type a single (unpacked) value of `field` has.
int WireTypeOf(const pb::FieldDescriptor* field) {
  switch (field->type()) {
    case pb::FieldDescriptor::TYPE_INT32:
    case pb::FieldDescriptor::TYPE_INT64:
    case pb::FieldDescriptor::TYPE_UINT32:
    case pb::FieldDescriptor::TYPE_UINT64:
    case pb::FieldDescriptor::TYPE_SINT32:
    case pb::FieldDescriptor::TYPE_SINT64:
    case pb::FieldDescriptor::TYPE_BOOL:
    case pb::FieldDescriptor::TYPE_ENUM:
      return 0;
    case pb::FieldDescriptor::TYPE_FIXED64:
    case pb::FieldDescriptor::TYPE_SFIXED64:
    case pb::FieldDescriptor::TYPE_DOUBLE:
      return 1;
    case pb::FieldDescriptor::TYPE_FIXED32:
    case pb::FieldDescriptor::TYPE_SFIXED32:
    case pb::FieldDescriptor::TYPE_FLOAT:
      return 5;
    case pb::FieldDescriptor::TYPE_GROUP:
      return 3;
    case pb::FieldDescriptor::TYPE_STRING:
    case pb::FieldDescriptor::TYPE_BYTES:
    case pb::FieldDescriptor::TYPE_MESSAGE:
      return 2;
  }
  return -1;
}

// RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t min;
    uint32_t cp;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, min = 0x80, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, min = 0x800, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, min = 0x10000, cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += extra + 1;
  }
  return true;
}

// Walks serialized bytes against a descriptor; the first problem becomes a field error.
class WireChecker {
 public:
  explicit WireChecker(const PayloadLimits& limits) : limits_(limits) {}

  absl::Status Check(std::string_view data, const pb::Descriptor* type) {
    if (data.size() > limits_.max_bytes) {
      return MakeError(absl::StatusCode::kResourceExhausted,
                       absl::StrCat("message of ", data.size(), " bytes is over the limit of ",
                                    limits_.max_bytes),
                       ErrorReason::kDecodeLimit);
    }
    return Message(data, type, "", 0, /*group_number=*/0, nullptr);
  }

 private:
  struct Cursor {
    std::string_view data;
    size_t pos = 0;
    bool done() const { return pos >= data.size(); }
  };

  // Reads a varint; false when truncated or longer than 10 bytes.
  static bool ReadVarint(Cursor& c, uint64_t* value) {
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (c.done()) return false;
      const auto byte = static_cast<unsigned char>(c.data[c.pos++]);
      if (shift == 63 && byte > 1) return false;  // more than 64 bits
      v |= static_cast<uint64_t>(byte & 0x7F) << shift;
      if ((byte & 0x80) == 0) {
        *value = v;
        return true;
      }
    }
    return false;
  }

  static std::string Join(std::string_view path, std::string_view name) {
    if (path.empty()) return std::string(name);
    return absl::StrCat(AsAbsl(path), ".", AsAbsl(name));
  }

  // Checks one message's fields. For a group, `group_number` is its field number and `group_end`
  // receives the position after its end tag.
  absl::Status Message(std::string_view data, const pb::Descriptor* type, const std::string& path,
                       int depth, uint32_t group_number, size_t* group_end) {
    if (depth > limits_.max_depth) {
      return FieldError(path, absl::StrCat("nested deeper than ", limits_.max_depth, " messages"));
    }
    std::map<int, int> occurrences;  // field number -> values seen (for "[i]" in paths)
    Cursor c{data, 0};
    while (!c.done()) {
      const size_t tag_at = c.pos;
      uint64_t tag = 0;
      if (!ReadVarint(c, &tag)) {
        return FieldError(path, absl::StrCat("truncated or overlong field tag at byte ", tag_at,
                                             " (of ", data.size(), ")"));
      }
      const int wire_type = static_cast<int>(tag & 7);
      const uint64_t number = tag >> 3;
      if (number == 0 || number > 536870911) {
        return FieldError(path, absl::StrCat("invalid field number ", number, " at byte ", tag_at));
      }
      if (wire_type == 4) {
        if (group_end != nullptr && number == group_number) {
          *group_end = c.pos;
          return absl::OkStatus();
        }
        return FieldError(
            path, absl::StrCat("unexpected group end (field ", number, ") at byte ", tag_at));
      }
      if (wire_type > 5) {
        return FieldError(path, absl::StrCat("invalid wire type ", wire_type, " at byte ", tag_at));
      }
      const pb::FieldDescriptor* field = type->FindFieldByNumber(static_cast<int>(number));
      if (field == nullptr) {
        if (type->IsExtensionNumber(static_cast<int>(number))) {
          if (auto s = Skip(c, wire_type, number, path, depth); !s.ok()) return s;
          continue;
        }
        return FieldError(
            path,
            absl::StrCat("field number ", number, " (", WireTypeName(wire_type),
                         ") is not a field of ", type->full_name(), ": a message of another type?"),
            ErrorReason::kWrongType);
      }
      std::string field_path = Join(path, field->name());
      if (field->is_repeated()) {
        absl::StrAppend(&field_path, "[", occurrences[field->number()]++, "]");
      }
      const int expected = WireTypeOf(field);
      const bool packable = field->is_repeated() && expected != 2 && expected != 3;
      if (packable && wire_type == 2) {
        if (auto s = Packed(c, field, field_path); !s.ok()) return s;
        continue;
      }
      if (wire_type != expected) {
        return FieldError(field_path,
                          absl::StrCat("wire type ", wire_type, " (", WireTypeName(wire_type),
                                       ") where ", field->type_name(), " field ", field->number(),
                                       " of ", type->full_name(), " needs ", expected, " (",
                                       WireTypeName(expected), "): a message of another type?"),
                          ErrorReason::kWrongType);
      }
      if (auto s = Value(c, field, wire_type, field_path, depth); !s.ok()) return s;
    }
    if (group_end != nullptr) return FieldError(path, "group without its end tag");
    return absl::OkStatus();
  }

  absl::Status Value(Cursor& c, const pb::FieldDescriptor* field, int wire_type,
                     const std::string& path, int depth) {
    const size_t at = c.pos;
    switch (wire_type) {
      case 0: {
        uint64_t v;
        if (!ReadVarint(c, &v)) {
          return FieldError(path, absl::StrCat("truncated or overlong varint at byte ", at));
        }
        return absl::OkStatus();
      }
      case 1:
      case 5: {
        const size_t width = wire_type == 1 ? 8 : 4;
        if (c.data.size() - c.pos < width) {
          return FieldError(path, absl::StrCat("truncated ", width * 8, "-bit value at byte ", at));
        }
        c.pos += width;
        return absl::OkStatus();
      }
      case 2: {
        uint64_t length;
        if (!ReadVarint(c, &length)) {
          return FieldError(path, absl::StrCat("truncated length at byte ", at));
        }
        if (length > c.data.size() - c.pos) {
          return FieldError(path, absl::StrCat("length ", length, " at byte ", at,
                                               " runs past the end of the message (",
                                               c.data.size() - c.pos, " bytes left)"));
        }
        const std::string_view body = c.data.substr(c.pos, length);
        c.pos += length;
        if (field->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
          return Message(body, field->message_type(), path, depth + 1, 0, nullptr);
        }
        if (field->type() == pb::FieldDescriptor::TYPE_STRING &&
            field->file()->syntax() == pb::FileDescriptor::SYNTAX_PROTO3 && !IsValidUtf8(body)) {
          return FieldError(path, "string is not valid UTF-8");
        }
        return absl::OkStatus();
      }
      case 3: {
        size_t end = 0;
        const std::string_view rest = c.data.substr(c.pos);
        if (auto s = Message(rest, field->message_type(), path, depth + 1,
                             static_cast<uint32_t>(field->number()), &end);
            !s.ok()) {
          return s;
        }
        c.pos += end;
        return absl::OkStatus();
      }
    }
    return FieldError(path, absl::StrCat("invalid wire type ", wire_type));
  }

  absl::Status Packed(Cursor& c, const pb::FieldDescriptor* field, const std::string& path) {
    const size_t at = c.pos;
    uint64_t length;
    if (!ReadVarint(c, &length))
      return FieldError(path, absl::StrCat("truncated length at byte ", at));
    if (length > c.data.size() - c.pos) {
      return FieldError(path, absl::StrCat("packed length ", length, " at byte ", at,
                                           " runs past the end of the message"));
    }
    Cursor inner{c.data.substr(c.pos, length), 0};
    c.pos += length;
    const int expected = WireTypeOf(field);
    if (expected == 1 || expected == 5) {
      const size_t width = expected == 1 ? 8 : 4;
      if (length % width != 0) {
        return FieldError(path, absl::StrCat("packed ", field->type_name(), " values of ", length,
                                             " bytes: not a multiple of ", width));
      }
      return absl::OkStatus();
    }
    while (!inner.done()) {
      uint64_t v;
      if (!ReadVarint(inner, &v)) return FieldError(path, "truncated varint in packed values");
    }
    return absl::OkStatus();
  }

  // An extension (not checked against a type): only well-formedness.
  absl::Status Skip(Cursor& c, int wire_type, uint64_t number, const std::string& path, int depth) {
    const size_t at = c.pos;
    uint64_t v;
    switch (wire_type) {
      case 0:
        if (!ReadVarint(c, &v))
          return FieldError(path, absl::StrCat("truncated varint at byte ", at));
        return absl::OkStatus();
      case 1:
      case 5: {
        const size_t width = wire_type == 1 ? 8 : 4;
        if (c.data.size() - c.pos < width) return FieldError(path, "truncated fixed-width value");
        c.pos += width;
        return absl::OkStatus();
      }
      case 2:
        if (!ReadVarint(c, &v) || v > c.data.size() - c.pos) {
          return FieldError(path, absl::StrCat("bad length at byte ", at));
        }
        c.pos += v;
        return absl::OkStatus();
    }
    return FieldError(path, absl::StrCat("extension ", number, ": groups are not supported"));
  }

  const PayloadLimits& limits_;
};

// True when `path` (protobuf's "a.b[0].c") starts with a field of `type`, by name or JSON name.
bool StartsAtAField(std::string_view path, const pb::Descriptor* type) {
  const std::string first(path.substr(0, path.find_first_of(".[")));
  return type->FindFieldByName(first) != nullptr ||
         type->FindFieldByCamelcaseName(first) != nullptr;
}

// protobuf's "(PATH): rest" or "(PATH) rest" split into PATH and rest; no prefix: nullopt.
std::optional<std::pair<std::string_view, std::string_view>> SplitPathPrefix(
    std::string_view text) {
  if (text.empty() || text.front() != '(') return std::nullopt;
  const size_t close = text.find(')');
  if (close == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(close + 1);
  if (!rest.empty() && rest.front() == ':') rest.remove_prefix(1);
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  return std::make_pair(text.substr(1, close - 1), rest);
}

// protobuf's JSON errors read "(a.b): problem" or "(a) b: Cannot find field." or "b: Cannot find
// field."; the path is taken from them (protobuf 3.21's wording; other wording keeps no path).
// An unknown key is matched first, because the key may itself start with '(' (`{"(po.)": 1}`,
// found by payload_fuzz): there a parenthesized start is a PATH only when something follows it and
// it names a field of the type (PATH holds known fields only).
absl::Status JsonError(std::string_view text, const pb::Descriptor* type) {
  constexpr std::string_view kNoField = ": Cannot find field.";
  if (text.size() > kNoField.size() && text.substr(text.size() - kNoField.size()) == kNoField) {
    const std::string_view name = text.substr(0, text.size() - kNoField.size());
    const auto split = SplitPathPrefix(name);
    const std::string path = split && !split->second.empty() && StartsAtAField(split->first, type)
                                 ? absl::StrCat(AsAbsl(split->first), ".", AsAbsl(split->second))
                                 : std::string(name);
    return FieldError(path, "no such field", ErrorReason::kWrongType);
  }
  const auto split = SplitPathPrefix(text);
  return split ? FieldError(split->first, split->second) : FieldError("", text);
}

// A strict syntax check of JSON text without building a document (a 4 MiB body of nested
// objects would otherwise cost ~30x its size): nesting depth, the kind of the root, and whether it
// is the original's {"protobuf": "<hex>"} form.
class JsonShape final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit JsonShape(int max_depth) : max_depth_(max_depth) {}

  std::string error;           // syntax or depth problem, "" when fine
  const char* root = nullptr;  // "object", "array", "string", ...
  size_t root_members = 0;
  bool protobuf_member_is_string = false;

  bool null() override { return Scalar("null"); }
  bool boolean(bool) override { return Scalar("boolean"); }
  bool number_integer(number_integer_t) override { return Scalar("number"); }
  bool number_unsigned(number_unsigned_t) override { return Scalar("number"); }
  bool number_float(number_float_t, const string_t&) override { return Scalar("number"); }
  bool string(string_t&) override {
    if (depth_ == 1 && last_key_is_protobuf_) protobuf_member_is_string = true;
    return Scalar("string");
  }
  bool binary(binary_t&) override { return Scalar("binary"); }
  bool start_object(std::size_t) override { return Open("object"); }
  bool end_object() override { return Close(); }
  bool start_array(std::size_t) override { return Open("array"); }
  bool end_array() override { return Close(); }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      ++root_members;
      last_key_is_protobuf_ = k == "protobuf";
    }
    return true;
  }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& e) override {
    std::string_view what = e.what();
    const size_t at = what.find("parse error");
    if (at != std::string_view::npos) what.remove_prefix(at);
    error = absl::StrCat("JSON ", AsAbsl(what), " (byte ", position, ")");
    return false;
  }

 private:
  bool Scalar(const char* kind) {
    if (depth_ == 0) root = kind;
    if (depth_ == 1) last_key_is_protobuf_ = false;
    return true;
  }
  bool Open(const char* kind) {
    if (depth_ == 0) root = kind;
    if (depth_ == 1) last_key_is_protobuf_ = false;
    if (++depth_ > max_depth_) {
      error = absl::StrCat("JSON nested deeper than ", max_depth_, " levels");
      return false;
    }
    return true;
  }
  bool Close() {
    --depth_;
    return true;
  }

  const int max_depth_;
  int depth_ = 0;
  bool last_key_is_protobuf_ = false;
};

bool HasProtobufField(const pb::Descriptor* type) {
  for (int i = 0; i < type->field_count(); ++i) {
    if (type->field(i)->name() == "protobuf" || type->field(i)->json_name() == "protobuf") {
      return true;
    }
  }
  return false;
}

}  // namespace

std::string FieldPathOf(const absl::Status& status) {
  const auto path = status.GetPayload(kFieldPathUrl);
  return path ? std::string(*path) : std::string();
}

absl::Status WithFieldPath(absl::Status status, std::string_view path) {
  if (!status.ok() && !path.empty()) status.SetPayload(kFieldPathUrl, absl::Cord(AsAbsl(path)));
  return status;
}

absl::Status CheckSerialized(std::string_view serialized, const pb::Descriptor* type,
                             const PayloadLimits& limits) {
  return WireChecker(limits).Check(serialized, type);
}

absl::Status ParseSerialized(std::string_view serialized, pb::Message* out,
                             const PayloadLimits& limits) {
  out->Clear();
  if (auto s = CheckSerialized(serialized, out->GetDescriptor(), limits); !s.ok()) return s;
  if (!out->ParseFromArray(serialized.data(), static_cast<int>(serialized.size()))) {
    // The walk accepted it; protobuf did not (a rule the walk does not know).
    return FieldError("", absl::StrCat("does not parse as ", out->GetDescriptor()->full_name()));
  }
  return absl::OkStatus();
}

bool IsSeedRestJson(std::string_view json, const pb::Descriptor* type) {
  if (HasProtobufField(type)) return false;
  JsonShape shape(PayloadLimits{}.max_depth);
  return nlohmann::json::sax_parse(json.begin(), json.end(), &shape) && shape.error.empty() &&
         shape.root_members == 1 && shape.protobuf_member_is_string;
}

absl::Status ParseJsonPayload(std::string_view json, pb::Message* out,
                              const PayloadLimits& limits) {
  out->Clear();
  if (json.size() > limits.max_bytes) {
    return MakeError(
        absl::StatusCode::kResourceExhausted,
        absl::StrCat("JSON of ", json.size(), " bytes is over the limit of ", limits.max_bytes),
        ErrorReason::kDecodeLimit);
  }
  // Strict syntax first: protobuf's parser accepts some malformed JSON (e.g. trailing commas).
  JsonShape shape(limits.max_depth);
  nlohmann::json::sax_parse(json.begin(), json.end(), &shape);
  if (!shape.error.empty()) return FieldError("", shape.error);
  if (shape.root == nullptr || std::string_view(shape.root) != "object") {
    return FieldError("",
                      absl::StrCat("expected a JSON object (a ", out->GetDescriptor()->full_name(),
                                   " or {\"protobuf\": \"<hex>\"}), got ",
                                   shape.root == nullptr ? "nothing" : shape.root));
  }
  if (shape.root_members == 1 && shape.protobuf_member_is_string &&
      !HasProtobufField(out->GetDescriptor())) {
    absl::StatusOr<std::string> bytes = FromSeedRestJson(json);
    if (!bytes.ok()) return FieldError("", AsStd(bytes.status().message()));
    return ParseSerialized(*bytes, out, limits);
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), out, options);
  if (!status.ok()) {
    out->Clear();
    return JsonError(AsStd(status.message()), out->GetDescriptor());
  }
  return absl::OkStatus();
}

absl::Status ParseEncodedPayload(std::string_view value, std::optional<Encoding> encoding,
                                 pb::Message* out, std::string* scratch,
                                 const PayloadLimits& limits) {
  out->Clear();
  const Encoding e = encoding.value_or(DetectEncoding(value));
  DecodeLimits decode;
  decode.max_decoded_bytes = limits.max_bytes;
  absl::StatusOr<std::string_view> bytes = Unwrap(value, e, decode, scratch);
  if (!bytes.ok()) {
    return MakeError(bytes.status().code(),
                     absl::StrCat(AsAbsl(EncodingName(e)), " payload: ", bytes.status().message()),
                     GetErrorReason(bytes.status()) == ErrorReason::kUnspecified
                         ? ErrorReason::kMalformedRecord
                         : GetErrorReason(bytes.status()));
  }
  return ParseSerialized(*bytes, out, limits);
}

absl::Status ParseAnyPayload(std::string_view type_url, std::string_view value, pb::Message* out,
                             const PayloadLimits& limits) {
  out->Clear();
  const size_t slash = type_url.rfind('/');
  const std::string_view name =
      slash == std::string_view::npos ? type_url : type_url.substr(slash + 1);
  const std::string& want = out->GetDescriptor()->full_name();
  if (name != want) {
    return FieldError("",
                      absl::StrCat("message is a ", AsAbsl(name.empty() ? "<no type URL>" : name),
                                   ", the topic carries ", want),
                      ErrorReason::kWrongType);
  }
  return ParseSerialized(value, out, limits);
}

}  // namespace messagecorps
