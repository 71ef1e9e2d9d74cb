// ReceivedMessage: a record as received (from librdkafka, or made by testing.h) and its decoded
// value; the per-consumer message pool that makes decoding small records allocation-free.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "message_pool.h"
#include "messagecorps/consumer.h"
#include "messagecorps/envelope.h"
#include "messagecorps/error.h"
#include "messagecorps/string_view.h"
#include "messagecorps/type_registry.h"
#include "received_message_access.h"

namespace messagecorps {

namespace {

// The last value of header `key` of a librdkafka record (no copy).
std::optional<std::string_view> KafkaHeader(const rd_kafka_message_t* m, const char* key) {
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return std::nullopt;
  const void* value = nullptr;
  size_t size = 0;
  if (rd_kafka_header_get_last(hdrs, key, &value, &size) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return std::nullopt;
  }
  return std::string_view(value ? static_cast<const char*>(value) : "", size);
}

// The header names the decoder reads, NUL-terminated for librdkafka.
constexpr const char* kEncodingHeader = "mcorps-encoding";
constexpr const char* kTypeHeader = "ce_type";
constexpr const char* kTraceparentHeader = "traceparent";

}  // namespace

// ---- the pool ----

std::unique_ptr<google::protobuf::Message> MessagePool::Take(
    const google::protobuf::Descriptor* type) {
  std::lock_guard lock(mu_);
  auto it = free_.find(type);
  if (it == free_.end() || it->second.empty()) return nullptr;
  std::unique_ptr<google::protobuf::Message> m = std::move(it->second.back());
  it->second.pop_back();
  return m;
}

void MessagePool::Give(std::unique_ptr<google::protobuf::Message> m) {
  // Outside the lock. Clear() deletes sub-messages (and their strings) of a message not on an
  // arena: the envelope, where most of a small record's allocations are, is taken out first and
  // put back cleared, so that the next parse reuses its strings. That it is present even when
  // the next record has none changes nothing: FillReceiveInfo creates it on every receive.
  const google::protobuf::FieldDescriptor* field = EnvelopeField(m->GetDescriptor());
  const google::protobuf::Reflection* reflection = m->GetReflection();
  google::protobuf::Message* envelope = field != nullptr && reflection->HasField(*m, field)
                                            ? reflection->ReleaseMessage(m.get(), field)
                                            : nullptr;
  m->Clear();
  if (envelope != nullptr) {
    envelope->Clear();
    reflection->SetAllocatedMessage(m.get(), envelope, field);
  }
  std::lock_guard lock(mu_);
  auto& list = free_[m->GetDescriptor()];
  if (list.size() < kMaxPooledMessages) list.push_back(std::move(m));
  // A full list: `m` is deleted when this returns, after the lock is released.
}

// ---- the owning handles' deleters ----

void internal::RecordDeleter::operator()(rd_kafka_message_s* record) const {
  rd_kafka_message_destroy(record);  // `client` (the librdkafka handle) is released after this
}

void internal::LocalRecordDeleter::operator()(LocalRecord* record) const { delete record; }

void internal::MessageReturn::operator()(google::protobuf::Message* message) const {
  if (pool != nullptr) {
    pool->Give(std::unique_ptr<google::protobuf::Message>(message));
  } else {
    delete message;
  }
}

static_assert(std::is_nothrow_move_constructible_v<ReceivedMessage>,
              "vector<ReceivedMessage> must move, not copy, when it grows");

// ---- accessors: a librdkafka record, else the local fields ----

std::string_view ReceivedMessage::topic() const {
  return record_ ? std::string_view(rd_kafka_topic_name(record_->rkt))
                 : std::string_view(local_->topic);
}
int32_t ReceivedMessage::partition() const {
  return record_ ? record_->partition : local_->partition;
}
int64_t ReceivedMessage::offset() const { return record_ ? record_->offset : local_->offset; }
std::optional<std::string_view> ReceivedMessage::key() const {
  if (!record_) {
    if (!local_->key) return std::nullopt;
    return std::string_view(*local_->key);
  }
  if (record_->key == nullptr) return std::nullopt;
  return std::string_view(static_cast<const char*>(record_->key), record_->key_len);
}
std::string_view ReceivedMessage::value() const {
  if (!record_) return local_->value;
  if (record_->payload == nullptr) return {};
  return std::string_view(static_cast<const char*>(record_->payload), record_->len);
}
int64_t ReceivedMessage::timestamp_ms() const {
  if (!record_) return local_->timestamp_ms;
  rd_kafka_timestamp_type_t type;
  return rd_kafka_message_timestamp(record_.get(), &type);
}
Headers ReceivedMessage::headers() const {
  if (!record_) return local_->headers;
  Headers out;
  rd_kafka_headers_t* hdrs = nullptr;
  if (rd_kafka_message_headers(record_.get(), &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  const char* name;
  const void* value;
  size_t size;
  for (size_t i = 0;
       rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; ++i) {
    out.emplace_back(name, value ? std::string(static_cast<const char*>(value), size) : "");
  }
  return out;
}
std::optional<std::string_view> ReceivedMessage::header(std::string_view key) const {
  if (!record_) return FindHeader(local_->headers, key);
  std::string k(key);
  return KafkaHeader(record_.get(), k.c_str());
}

namespace internal {

namespace {

// header(name) without building a std::string for librdkafka.
std::optional<std::string_view> HeaderOf(const ReceivedMessage& r, const rd_kafka_message_t* m,
                                         const char* name) {
  return m != nullptr ? KafkaHeader(m, name) : r.header(name);
}

}  // namespace

ReceivedMessage ReceivedMessageAccess::FromKafka(std::shared_ptr<void> client,
                                                 MessageHandle record) {
  ReceivedMessage r;
  r.record_ = std::unique_ptr<rd_kafka_message_s, internal::RecordDeleter>(
      record.release(), internal::RecordDeleter{std::move(client)});
  return r;
}

ReceivedMessage ReceivedMessageAccess::FromFields(internal::LocalRecord fields) {
  ReceivedMessage r;
  r.local_.reset(new internal::LocalRecord(std::move(fields)));
  return r;
}

void ReceivedMessageAccess::SetMessage(ReceivedMessage& r,
                                       std::unique_ptr<google::protobuf::Message> message,
                                       Encoding encoding) {
  r.encoding_ = encoding;
  r.decode_status_ = absl::OkStatus();
  FillReceiveInfo(*message, r.offset(), r.partition());
  r.trace_ = TraceOf(*message);
  r.message_.reset(message.release());
  if (r.trace_.empty()) TraceFromHeaders(r);
}

void ReceivedMessageAccess::SetDecodeStatus(ReceivedMessage& r, absl::Status status,
                                            Encoding encoding) {
  r.encoding_ = encoding;
  r.decode_status_ = std::move(status);
  r.message_.reset();
  TraceFromHeaders(r);
}

void ReceivedMessageAccess::Decode(ReceivedMessage& r, const TypeRegistry& registry,
                                   const DecodeLimits& limits, MessagePool* pool) {
  // The value says what it is; librdkafka's header API (which parses and allocates the header
  // list of the record on first use) is called only where the value cannot tell: an ambiguous
  // encoding, a type without an envelope, a record without a type in its envelope (the
  // original's), a trace the envelope lacks.
  const rd_kafka_message_t* m = r.record_.get();
  std::string_view value = r.value();
  std::string_view topic = r.topic();
  const TopicBinding* binding = registry.Find(topic);
  const google::protobuf::Descriptor* type = binding != nullptr ? binding->type : nullptr;

  // Encoding: from the bytes; the mcorps-encoding header decides when the bytes allow two.
  r.encoding_ = DetectEncoding(value);
  bool header_read = false;
  auto encoding_from_header = [&]() -> bool {
    header_read = true;
    if (auto h = HeaderOf(r, m, kEncodingHeader)) {
      if (auto parsed = ParseEncoding(*h); parsed.ok() && *parsed != r.encoding_) {
        r.encoding_ = *parsed;
        return true;
      }
    }
    return false;
  };
  if (EncodingAmbiguous(value, type)) encoding_from_header();
  thread_local std::string scratch;
  absl::StatusOr<std::string_view> payload = Unwrap(value, r.encoding_, limits, &scratch);
  // Taken for seed by its first bytes but no zlib stream: a raw value of a field the bound type
  // does not know (a newer schema), which its producer marks with the header.
  if (!payload.ok() && !header_read && r.encoding_ == Encoding::kSeed && encoding_from_header()) {
    payload = Unwrap(value, r.encoding_, limits, &scratch);
  }
  if (!payload.ok()) {
    r.decode_status_ = WithContext(
        payload.status(), absl::StrCat(AsAbsl(topic), "[", r.partition(), "]@", r.offset()));
    return;
  }

  // Type: the envelope's `type` in the value, else the ce_type header (types without an envelope,
  // records of the original), checked against the topic's binding.
  std::string_view claimed;
  const char* claimed_by = "";
  const google::protobuf::FieldDescriptor* envelope =
      type != nullptr ? EnvelopeField(type) : nullptr;
  if (envelope != nullptr) {
    if (auto in_value = EnvelopeTypeInBytes(*payload, envelope->number())) {
      claimed = *in_value;
      claimed_by = "_message_data.type";
    }
  }
  auto find_type = [&registry](std::string_view name) { return registry.FindType(name); };
  auto from_other_envelope = [&]() {
    // Without a header, another type's envelope (at its own field number) still names it.
    if (const google::protobuf::Descriptor* found = FindEnvelopeType(*payload, find_type)) {
      claimed = AsStd(found->full_name());
      claimed_by = "_message_data.type";
    }
  };
  // A record on a topic without a binding: its envelope first (no header read for our records).
  if (claimed.empty() && type == nullptr) from_other_envelope();
  if (claimed.empty()) {
    if (auto ce_type = HeaderOf(r, m, kTypeHeader); ce_type.has_value() && !ce_type->empty()) {
      claimed = *ce_type;
      claimed_by = "ce_type";
    } else if (type != nullptr) {
      from_other_envelope();
    }
  }
  if (type == nullptr && !claimed.empty()) {
    type = registry.FindType(claimed);
  } else if (type != nullptr && !claimed.empty() && AsAbsl(claimed) != type->full_name()) {
    r.decode_status_ =
        MakeError(absl::StatusCode::kInvalidArgument,
                  absl::StrCat("record in ", AsAbsl(topic), " says it is a ", AsAbsl(claimed), " (",
                               claimed_by, ") but the topic carries ", type->full_name()),
                  ErrorReason::kWrongType);
    return;
  }
  if (type == nullptr) {
    r.decode_status_ = MakeError(
        absl::StatusCode::kNotFound,
        absl::StrCat("no message type is bound to topic ", AsAbsl(topic),
                     " (and the record names none known in _message_data.type or ce_type)"),
        ErrorReason::kNoTypeBound);
    return;
  }
  std::unique_ptr<google::protobuf::Message> message = pool ? pool->Take(type) : nullptr;
  const bool reused = message != nullptr;
  if (!reused) message = registry.NewMessage(type);
  absl::Status s = ParsePayload(*payload, r.encoding_, message.get(), /*merge=*/reused);
  if (!s.ok()) {
    r.decode_status_ =
        WithContext(s, absl::StrCat(AsAbsl(topic), "[", r.partition(), "]@", r.offset()));
    return;
  }
  // Pooled only when small: a cleared message keeps its string capacity.
  const size_t parsed = payload->size();
  internal::MessageReturn back;
  if (pool != nullptr && m != nullptr && parsed <= kMaxPooledMessageBytes) {
    back.client = r.record_.get_deleter().client;
    back.pool = pool;
  }
  FillReceiveInfo(*message, r.offset(), r.partition());
  r.trace_ = TraceOf(*message);
  r.message_ = std::unique_ptr<google::protobuf::Message, internal::MessageReturn>(
      message.release(), std::move(back));
  if (r.trace_.empty()) TraceFromHeaders(r);
}

void ReceivedMessageAccess::TraceFromHeaders(ReceivedMessage& r) {
  if (auto tp = HeaderOf(r, r.record_.get(), kTraceparentHeader)) {
    auto t = TraceContext::FromTraceparent(*tp);
    if (t.ok()) r.trace_ = *t;
  }
}

}  // namespace internal
}  // namespace messagecorps
