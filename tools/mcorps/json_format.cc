#include "json_format.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "messagecorps/codec.h"
#include "messagecorps/consumer.h"
#include "messagecorps/string_view.h"

namespace mcorps {

namespace pb = google::protobuf;

namespace {

// The number of bytes a base64 text stands for.
size_t Base64DecodedSize(std::string_view text) {
  size_t padding = 0;
  while (!text.empty() && text.back() == '=') {
    text.remove_suffix(1);
    ++padding;
  }
  return text.size() * 3 / 4;
}

bool IsWellKnownType(const pb::Descriptor* type) {
  return type->file()->name().rfind("google/protobuf/", 0) == 0;
}

void SummarizeValue(Json& value, const pb::FieldDescriptor* field, bool camel_case);

void SummarizeSingle(Json& value, const pb::FieldDescriptor* field, bool camel_case) {
  if (field->type() == pb::FieldDescriptor::TYPE_BYTES && value.is_string()) {
    value = absl::StrCat("<", Base64DecodedSize(value.get_ref<const std::string&>()), " bytes>");
  } else if (field->message_type() != nullptr && value.is_object()) {
    SummarizeBytes(value, field->message_type(), camel_case);
  }
}

void SummarizeValue(Json& value, const pb::FieldDescriptor* field, bool camel_case) {
  if (field->is_map()) {
    const pb::FieldDescriptor* map_value = field->message_type()->map_value();
    if (!value.is_object()) return;
    for (auto& [key, item] : value.items()) SummarizeSingle(item, map_value, camel_case);
    return;
  }
  if (field->is_repeated()) {
    if (!value.is_array()) return;
    for (Json& item : value) SummarizeSingle(item, field, camel_case);
    return;
  }
  SummarizeSingle(value, field, camel_case);
}

}  // namespace

absl::StatusOr<Json> MessageToJson(const pb::Message& message, const PrintOptions& options) {
  pb::util::JsonPrintOptions print;
  print.preserve_proto_field_names = !options.camel_case;
  print.always_print_primitive_fields = options.emit_defaults;
  std::string text;
  auto status = pb::util::MessageToJsonString(message, &text, print);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot print ", message.GetDescriptor()->full_name(),
                     " as JSON: ", messagecorps::ToString(status.message())));
  }
  Json json = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return absl::InternalError("protobuf printed JSON that does not parse");
  }
  if (options.summarize_bytes) SummarizeBytes(json, message.GetDescriptor(), options.camel_case);
  return json;
}

absl::Status ParseMessageJson(std::string_view json, pb::Message* out) {
  out->Clear();
  pb::util::JsonParseOptions parse;
  parse.ignore_unknown_fields = false;
  auto status =
      pb::util::JsonStringToMessage(pb::StringPiece(json.data(), json.size()), out, parse);
  if (!status.ok()) {
    // The parser's message may quote the input over several lines: keep the error on one.
    std::string message = messagecorps::ToString(status.message());
    std::replace(message.begin(), message.end(), '\n', ' ');
    return absl::InvalidArgumentError(
        absl::StrCat("not a ", out->GetDescriptor()->full_name(), ": ", message));
  }
  return absl::OkStatus();
}

void SummarizeBytes(Json& json, const pb::Descriptor* type, bool camel_case) {
  if (!json.is_object() || IsWellKnownType(type)) return;
  for (int i = 0; i < type->field_count(); ++i) {
    const pb::FieldDescriptor* field = type->field(i);
    auto it = json.find(camel_case ? field->json_name() : field->name());
    if (it == json.end()) continue;
    SummarizeValue(*it, field, camel_case);
  }
}

std::string ToHex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char c : bytes) {
    const auto b = static_cast<unsigned char>(c);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

Json HeadersToJson(const messagecorps::Headers& headers) {
  Json out = Json::object();
  for (const auto& [name, value] : headers) {
    auto it = out.find(name);
    if (it == out.end()) {
      out[name] = value;
    } else if (it->is_array()) {
      it->push_back(value);
    } else {
      *it = Json::array({*it, value});
    }
  }
  return out;
}

Json RecordToJson(const messagecorps::ReceivedMessage& record, const PrintOptions& options) {
  Json out = Json::object();
  out["topic"] = std::string(record.topic());
  out["partition"] = record.partition();
  out["offset"] = record.offset();
  const int64_t timestamp = record.timestamp_ms();
  out["timestamp"] = timestamp >= 0 ? Json(timestamp) : Json(nullptr);
  if (auto key = record.key()) {
    out["key"] = std::string(*key);
  } else {
    out["key"] = nullptr;
  }
  out["headers"] = HeadersToJson(record.headers());
  out["encoding"] = std::string(messagecorps::EncodingName(record.encoding()));
  absl::Status problem = record.decode_status();
  if (problem.ok() && record.message() != nullptr) {
    auto message = MessageToJson(*record.message(), options);
    if (message.ok()) {
      out["type"] = record.message()->GetDescriptor()->full_name();
      out["message"] = *std::move(message);
      return out;
    }
    problem = message.status();
  } else if (problem.ok()) {
    problem = absl::InternalError("record was not decoded");
  }
  out["error"] = messagecorps::ToString(problem.message());
  out["value_hex"] = ToHex(record.value());
  return out;
}

std::string DumpJson(const Json& json, int indent) {
  return json.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace mcorps
