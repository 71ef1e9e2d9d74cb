#include "messagecorps/envelope.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/message.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <typeinfo>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace messagecorps {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;
using google::protobuf::internal::WireFormatLite;
using protobuf::common::messageData;

constexpr std::string_view kEnvelopeFieldName = "_message_data";
constexpr std::string_view kMessageDataType = "protobuf.common.messageData";

// messageData field numbers (the original's 1-8, then our additions).
enum MessageDataField : int {
  kTimestamp = 1,
  kEnvironment = 2,
  kSendingService = 3,
  kUuid = 4,
  kIsoDate = 5,
  kOffset = 6,
  kPartition = 7,
  kTraceId = 8,
  kSpanId = 9,
  kParentSpanId = 10,
  kType = 11,
};

std::string_view AsStd(const std::string& s) { return std::string_view(s.data(), s.size()); }

bool IsEnvelopeField(const FieldDescriptor* field) {
  if (field == nullptr || field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
      field->is_repeated() || AsStd(field->name()) != kEnvelopeFieldName) {
    return false;
  }
  const Descriptor* type = field->message_type();
  return type == messageData::descriptor() || AsStd(type->full_name()) == kMessageDataType;
}

// --- the per-descriptor cache ----------------------------------------------------------------
// Per thread, so lookups take no lock. Generated descriptors live as long as the process, so a hit
// on one is final. A descriptor of another pool may be destroyed and a new one allocated at the
// same address, so such a hit is re-validated against the live descriptor: the field must still be
// field(index) of the type and still be `_message_data: messageData`; "no such field" is not cached
// for those pools (re-validating it would cost as much as the hashed lookup it saves).
struct CacheSlot {
  const Descriptor* type;
  const FieldDescriptor* field;  // nullptr: the type has no envelope field
  int index;
  bool generated;  // type is from the generated pool: the entry never goes stale
};
constexpr size_t kCacheSlots = 16;
thread_local CacheSlot t_cache[kCacheSlots];

bool IsGenerated(const Descriptor* type) {
  static const google::protobuf::DescriptorPool* const generated =
      google::protobuf::DescriptorPool::generated_pool();
  return type->file()->pool() == generated;
}

const FieldDescriptor* FindEnvelopeField(const Descriptor* type) {
  if (type == nullptr) return nullptr;
  CacheSlot& slot = t_cache[(reinterpret_cast<uintptr_t>(type) >> 5) % kCacheSlots];
  if (slot.type == type) [[likely]] {
    if (slot.generated) return slot.field;
    if (slot.field != nullptr && slot.index < type->field_count() &&
        type->field(slot.index) == slot.field && IsEnvelopeField(slot.field)) {
      return slot.field;
    }
  }
  static const std::string kName(kEnvelopeFieldName);
  const FieldDescriptor* field = type->FindFieldByName(kName);
  if (!IsEnvelopeField(field)) field = nullptr;
  const bool generated = IsGenerated(type);
  if (field != nullptr || generated) {
    slot = CacheSlot{type, field, field != nullptr ? field->index() : 0, generated};
  } else if (slot.type == type) {
    slot = CacheSlot{};  // a stale entry for this address
  }
  return field;
}

// The generated class when `md` is one (then setters are direct calls), else nullptr. typeid, not
// GetReflection(), which costs a call_once per call on generated messages. Comparing the type_info
// addresses may miss a match across shared-library boundaries; the reflection path then does it.
messageData* AsGenerated(Message* md) {
  return &typeid(*md) == &typeid(messageData) ? static_cast<messageData*>(md) : nullptr;
}
const messageData* AsGenerated(const Message* md) {
  return &typeid(*md) == &typeid(messageData) ? static_cast<const messageData*>(md) : nullptr;
}

// The library's own generated types, reached without reflection: on generated descriptors every
// reflection accessor goes through call_once and thread-local state, a third of a send's budget.
template <typename T>
T* IfType(Message& message) {
  return &typeid(message) == &typeid(T) ? static_cast<T*>(&message) : nullptr;
}
template <typename T>
const T* IfType(const Message& message) {
  return &typeid(message) == &typeid(T) ? static_cast<const T*>(&message) : nullptr;
}

messageData* KnownMutableEnvelope(Message& message) {
  if (auto* image = IfType<protobuf::data::Image>(message)) return image->mutable__message_data();
  if (auto* prediction = IfType<protobuf::predictions::Prediction>(message)) {
    return prediction->mutable__message_data();
  }
  return nullptr;
}

const messageData* KnownEnvelope(const Message& message) {
  if (auto* image = IfType<protobuf::data::Image>(message)) return &image->_message_data();
  if (auto* prediction = IfType<protobuf::predictions::Prediction>(message)) {
    return &prediction->_message_data();
  }
  return nullptr;
}

// The mutable envelope of `message`, or nullptr when its type has none.
Message* MutableEnvelope(Message& message) {
  if (messageData* known = KnownMutableEnvelope(message)) return known;
  const FieldDescriptor* field = FindEnvelopeField(message.GetDescriptor());
  if (field == nullptr) return nullptr;
  return message.GetReflection()->MutableMessage(&message, field);
}

// A field of a dynamic messageData by number, when it exists with the expected type (a schema from
// another pool may be older and lack our additions; such fields are skipped).
const FieldDescriptor* DynamicField(const Message& md, int number, FieldDescriptor::CppType type) {
  const FieldDescriptor* f = md.GetDescriptor()->FindFieldByNumber(number);
  return (f != nullptr && f->cpp_type() == type && !f->is_repeated()) ? f : nullptr;
}

// Sets a string without allocating when the field already has the capacity. On a reused message
// the sizes match (uuid, iso_date, ids are fixed-size), and a plain copy is much cheaper than
// std::string::assign's general path.
void Assign(std::string* field, std::string_view value) {
  if (field->size() == value.size()) {
    if (!value.empty()) std::memcpy(field->data(), value.data(), value.size());
  } else {
    field->assign(value.data(), value.size());
  }
}

void Put2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// The envelope's time, uuid, settings and trace. `existing_trace` is the message's trace_id (may be
// empty); kInvalidArgument when it is not a valid trace id.
absl::Status BuildEnvelope(const EnvelopeSettings& settings, const TraceContext* parent,
                           const Clock& clock, std::string_view existing_trace, Envelope& env) {
  const bool has_parent = parent != nullptr && !parent->empty();
  if (!existing_trace.empty()) {
    // The message's own trace wins; a parent still records its span as our parent span.
    env.trace = has_parent ? parent->Child() : TraceContext();
    absl::Status status = env.trace.SetTraceId(existing_trace);
    if (!status.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("_message_data.trace_id: ", status.message()));
    }
    if (env.trace.span_id().empty()) env.trace.NewSpan();
  } else if (has_parent) {
    env.trace = parent->Child();
  } else {
    env.trace = TraceContext::NewTrace();
  }
  env.time = clock ? clock() : std::chrono::system_clock::now();
  env.timestamp = std::chrono::duration<double>(env.time.time_since_epoch()).count();
  FormatIsoDate(env.time, env.iso_date);
  NewUuidV1(env.uuid);
  env.environment = settings.environment;
  env.service = settings.service;
  return absl::OkStatus();
}

void WriteGenerated(const Envelope& env, messageData& md) {
  if (AsStd(md.type()) != env.type) Assign(md.mutable_type(), env.type);
  md.set_timestamp(env.timestamp);
  md.set_environment(env.environment);
  if (env.service.empty()) {
    md.clear_sending_service();
  } else {
    Assign(md.mutable_sending_service(), env.service);
  }
  Assign(md.mutable_uuid(), env.uuid_view());
  Assign(md.mutable_iso_date(), env.iso_date_view());
  if (AsStd(md.trace_id()) != env.trace.trace_id()) {
    Assign(md.mutable_trace_id(), env.trace.trace_id());
  }
  Assign(md.mutable_span_id(), env.trace.span_id());
  if (env.trace.parent_span_id().empty()) {
    md.clear_parent_span_id();
  } else {
    Assign(md.mutable_parent_span_id(), env.trace.parent_span_id());
  }
}

// Dynamic messages: only the reflection API is available, whose SetString takes a std::string by
// value, so this path allocates per string field.
void WriteDynamic(const Envelope& env, Message& md) {
  const Reflection* r = md.GetReflection();
  if (auto* f = DynamicField(md, kTimestamp, FieldDescriptor::CPPTYPE_DOUBLE)) {
    r->SetDouble(&md, f, env.timestamp);
  }
  if (auto* f = DynamicField(md, kEnvironment, FieldDescriptor::CPPTYPE_ENUM)) {
    r->SetEnumValue(&md, f, env.environment);
  }
  auto set_string = [&](int number, std::string_view value) {
    if (auto* f = DynamicField(md, number, FieldDescriptor::CPPTYPE_STRING)) {
      r->SetString(&md, f, std::string(value));
    }
  };
  set_string(kSendingService, env.service);
  set_string(kUuid, env.uuid_view());
  set_string(kIsoDate, env.iso_date_view());
  set_string(kTraceId, env.trace.trace_id());
  set_string(kSpanId, env.trace.span_id());
  set_string(kParentSpanId, env.trace.parent_span_id());
  set_string(kType, env.type);
}

std::string_view DynamicString(const Message& md, int number, std::string* scratch) {
  const FieldDescriptor* f = DynamicField(md, number, FieldDescriptor::CPPTYPE_STRING);
  if (f == nullptr) return {};
  return AsStd(md.GetReflection()->GetStringReference(md, f, scratch));
}

// --- reading the wire format (EnvelopeTypeInBytes) ---------------------------------------------
// protobuf's CodedInputStream and WireFormatLite walk the fields of one message level without
// parsing them; a length-delimited field's bytes are kept as a view. Groups are not walked: such
// bytes are left to the real parser.

// One field of one message level; `value` is set for length-delimited fields.
struct WireField {
  uint32_t number = 0;
  WireFormatLite::WireType wire_type = WireFormatLite::WIRETYPE_VARINT;
  std::string_view value;
};

// The field at *pos, moving past it. False at the end or on malformed bytes.
bool NextField(std::string_view bytes, size_t* pos, WireField* field) {
  if (*pos >= bytes.size() || bytes.size() - *pos > static_cast<size_t>(INT_MAX)) return false;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data() + *pos),
                                            static_cast<int>(bytes.size() - *pos));
  const uint32_t tag = in.ReadTag();
  if (tag == 0) return false;
  field->number = WireFormatLite::GetTagFieldNumber(tag);
  field->wire_type = WireFormatLite::GetTagWireType(tag);
  field->value = {};
  switch (field->wire_type) {
    case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
      uint32_t size = 0;
      if (!in.ReadVarint32(&size)) return false;
      const int start = in.CurrentPosition();
      if (!in.Skip(static_cast<int>(size))) return false;
      field->value = bytes.substr(*pos + static_cast<size_t>(start), size);
      break;
    }
    case WireFormatLite::WIRETYPE_START_GROUP:
    case WireFormatLite::WIRETYPE_END_GROUP:
      return false;
    default:
      if (!WireFormatLite::SkipField(&in, tag)) return false;
  }
  *pos += static_cast<size_t>(in.CurrentPosition());
  return true;
}

// A protobuf full name: dot-separated identifiers.
bool LooksLikeTypeName(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  });
}

}  // namespace

absl::StatusOr<EnvelopeSettings> EnvelopeSettings::FromEnvironment() {
  EnvelopeSettings settings;
  // Unset and empty mean the same: the default.
  if (const char* service = std::getenv("LOG_TAG_SERVICE");
      service != nullptr && *service != '\0') {
    settings.service = service;
  }
  if (const char* env = std::getenv("ENVIRONMENT"); env != nullptr && *env != '\0') {
    std::string name(env);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
    if (!protobuf::common::Environment_Parse(name, &settings.environment)) {
      return absl::InvalidArgumentError(
          absl::StrCat("ENVIRONMENT=\"", absl::CEscape(env),
                       "\" is not an environment name (PRODUCTION, DEVELOPMENT, STAGING or "
                       "UNKNOWN_ENVIRONMENT)"));
    }
  }
  return settings;
}

void FormatIsoDate(std::chrono::system_clock::time_point t, std::array<char, 32>& out) {
  using namespace std::chrono;
  // Floor to microseconds, then split into seconds and microseconds (times before 1970 too).
  const int64_t ns = duration_cast<nanoseconds>(t.time_since_epoch()).count();
  int64_t us = ns / 1000;
  if (ns % 1000 < 0) --us;
  int64_t second = us / 1000000;
  int64_t micro = us % 1000000;
  if (micro < 0) {
    micro += 1000000;
    --second;
  }
  // Calls within one second share "YYYY-MM-DDTHH:MM:SS": format it once per thread and second.
  struct SecondCache {
    int64_t second;
    bool valid;
    char text[19];
  };
  thread_local SecondCache cache{0, false, {}};
  char* p = out.data();
  if (!cache.valid || cache.second != second) {
    const sys_seconds whole{seconds{second}};
    const auto day = floor<days>(whole);
    const year_month_day ymd{day};
    const hh_mm_ss<seconds> hms{whole - day};
    char* c = cache.text;
    const int y = std::clamp(static_cast<int>(ymd.year()), 0, 9999);
    Put2(c, static_cast<unsigned>(y / 100));
    Put2(c + 2, static_cast<unsigned>(y % 100));
    c[4] = '-';
    Put2(c + 5, static_cast<unsigned>(ymd.month()));
    c[7] = '-';
    Put2(c + 8, static_cast<unsigned>(ymd.day()));
    c[10] = 'T';
    Put2(c + 11, static_cast<unsigned>(hms.hours().count()));
    c[13] = ':';
    Put2(c + 14, static_cast<unsigned>(hms.minutes().count()));
    c[16] = ':';
    Put2(c + 17, static_cast<unsigned>(hms.seconds().count()));
    cache.second = second;
    cache.valid = true;
  }
  std::memcpy(p, cache.text, sizeof cache.text);
  p[19] = '.';
  auto micros = static_cast<unsigned>(micro);
  for (int i = 25; i >= 20; --i) {
    p[i] = static_cast<char>('0' + micros % 10);
    micros /= 10;
  }
  std::memcpy(p + 26, "+00:00", 6);
}

bool HasEnvelopeField(const google::protobuf::Descriptor* type) {
  return FindEnvelopeField(type) != nullptr;
}

const google::protobuf::FieldDescriptor* EnvelopeField(const google::protobuf::Descriptor* type) {
  return FindEnvelopeField(type);
}

absl::StatusOr<Envelope> Stamp(google::protobuf::Message& message, const EnvelopeSettings& settings,
                               const TraceContext* parent, const Clock& clock) {
  Envelope env;
  env.type = AsStd(message.GetDescriptor()->full_name());
  Message* md = MutableEnvelope(message);
  if (md == nullptr) {
    absl::Status status = BuildEnvelope(settings, parent, clock, {}, env);
    if (!status.ok()) return status;
    return env;
  }
  if (messageData* generated = AsGenerated(md)) {
    absl::Status status = BuildEnvelope(settings, parent, clock, AsStd(generated->trace_id()), env);
    if (!status.ok()) return status;
    WriteGenerated(env, *generated);
  } else {
    std::string scratch;
    absl::Status status =
        BuildEnvelope(settings, parent, clock, DynamicString(*md, kTraceId, &scratch), env);
    if (!status.ok()) return status;
    WriteDynamic(env, *md);
  }
  return env;
}

Envelope MakeEnvelope(const EnvelopeSettings& settings, const TraceContext* parent,
                      const Clock& clock) {
  Envelope env;
  // Cannot fail: there is no existing trace id to validate.
  (void)BuildEnvelope(settings, parent, clock, {}, env);
  return env;
}

void FillReceiveInfo(google::protobuf::Message& message, int64_t offset, int32_t partition) {
  Message* md = MutableEnvelope(message);
  if (md == nullptr) return;
  if (messageData* generated = AsGenerated(md)) {
    generated->set_offset(offset);
    generated->set_partition(partition);
    return;
  }
  const Reflection* r = md->GetReflection();
  if (auto* f = DynamicField(*md, kOffset, FieldDescriptor::CPPTYPE_INT64)) {
    r->SetInt64(md, f, offset);
  }
  if (auto* f = DynamicField(*md, kPartition, FieldDescriptor::CPPTYPE_INT64)) {
    r->SetInt64(md, f, partition);
  }
}

const google::protobuf::Message* EnvelopeOf(const google::protobuf::Message& message) {
  if (const messageData* known = KnownEnvelope(message)) return known;
  const FieldDescriptor* field = FindEnvelopeField(message.GetDescriptor());
  if (field == nullptr) return nullptr;
  return &message.GetReflection()->GetMessage(message, field);
}

TraceContext TraceOf(const google::protobuf::Message& message) {
  const Message* md = EnvelopeOf(message);
  if (md == nullptr) return {};
  std::string trace_scratch;
  std::string span_scratch;
  std::string_view trace_id;
  std::string_view span_id;
  if (const messageData* generated = AsGenerated(md)) {
    trace_id = AsStd(generated->trace_id());
    span_id = AsStd(generated->span_id());
  } else {
    trace_id = DynamicString(*md, kTraceId, &trace_scratch);
    span_id = DynamicString(*md, kSpanId, &span_scratch);
  }
  if (trace_id.empty()) return {};
  if (!span_id.empty()) {
    if (auto trace = TraceContext::FromIds(trace_id, span_id); trace.ok()) return *trace;
  }
  // No (valid) span: the original's messages carry only a trace id. A child then has no parent
  // span.
  TraceContext trace;
  if (!trace.SetTraceId(trace_id).ok()) return {};
  return trace;
}

std::optional<std::string_view> EnvelopeTypeInBytes(std::string_view serialized,
                                                    int envelope_field_number) {
  std::optional<std::string_view> type;
  size_t pos = 0;
  WireField field;
  while (pos < serialized.size()) {
    if (!NextField(serialized, &pos, &field)) return std::nullopt;
    if (field.wire_type != WireFormatLite::WIRETYPE_LENGTH_DELIMITED ||
        field.number != static_cast<uint32_t>(envelope_field_number)) {
      continue;
    }
    size_t inner = 0;
    WireField f;
    while (inner < field.value.size()) {
      if (!NextField(field.value, &inner, &f)) return std::nullopt;
      if (f.number == kType && f.wire_type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED)
        type = f.value;
    }
  }
  if (type.has_value() && !LooksLikeTypeName(*type)) return std::nullopt;
  return type;
}

const google::protobuf::Descriptor* FindEnvelopeType(
    std::string_view serialized,
    const std::function<const google::protobuf::Descriptor*(std::string_view)>& find_type) {
  // The distinct length-delimited top-level fields, in order (a few; more are not examined).
  constexpr size_t kMaxCandidates = 16;
  std::array<uint32_t, kMaxCandidates> candidates{};
  size_t count = 0;
  size_t pos = 0;
  WireField field;
  while (pos < serialized.size() && count < kMaxCandidates) {
    if (!NextField(serialized, &pos, &field)) break;
    if (field.wire_type != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) continue;
    if (std::find(candidates.begin(), candidates.begin() + count, field.number) !=
        candidates.begin() + count) {
      continue;
    }
    candidates[count++] = field.number;
  }
  for (size_t i = 0; i < count; ++i) {
    const int number = static_cast<int>(candidates[i]);
    std::optional<std::string_view> name = EnvelopeTypeInBytes(serialized, number);
    if (!name.has_value() || name->empty()) continue;
    const Descriptor* type = find_type(*name);
    const FieldDescriptor* envelope = type != nullptr ? FindEnvelopeField(type) : nullptr;
    if (envelope != nullptr && envelope->number() == number) return type;
  }
  return nullptr;
}

std::optional<std::string_view> EnvelopeUuidInBytes(std::string_view serialized) {
  size_t pos = 0;
  WireField field;
  while (pos < serialized.size()) {
    if (!NextField(serialized, &pos, &field)) return std::nullopt;
    if (field.wire_type != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) continue;
    std::string_view uuid;
    bool typed = false;
    size_t inner = 0;
    WireField f;
    bool walks = true;
    while (inner < field.value.size()) {
      if (!NextField(field.value, &inner, &f)) {
        walks = false;
        break;
      }
      if (f.wire_type != WireFormatLite::WIRETYPE_LENGTH_DELIMITED) continue;
      if (f.number == kUuid) uuid = f.value;
      if (f.number == kType) typed = LooksLikeTypeName(f.value);
    }
    if (walks && typed && uuid.size() == 36) return uuid;
  }
  return std::nullopt;
}

}  // namespace messagecorps
