// Internal: how the library builds ReceivedMessage objects — from a librdkafka record (Consumer)
// or from fields (testing.h) — and decodes their value. The one friend of ReceivedMessage.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "messagecorps/consumer.h"
#include "rdkafka_handles.h"

namespace messagecorps {

class MessagePool;
class TypeRegistry;

namespace internal {

// A record that did not come from librdkafka (testing.h): its fields, owned.
struct LocalRecord {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key;
  std::string value;
  Headers headers;
  int64_t timestamp_ms = -1;
};

struct ReceivedMessageAccess {
  // A record received by a consumer. `client` (the consumer's state) stays alive until the record
  // and its decoded message are gone.
  static ReceivedMessage FromKafka(std::shared_ptr<void> client, MessageHandle record);
  // A record made of `fields` (no consumer behind it).
  static ReceivedMessage FromFields(LocalRecord fields);

  // Decodes the value as a Consumer does: encoding from the content (the mcorps-encoding header
  // when the content is ambiguous); type from `registry` (topic binding, checked against
  // `_message_data.type` in the value, else ce_type) or from those. `pool`
  // (may be null) provides and takes back message objects; it must live inside the record's
  // client state. Sets decode_status(), message(), encoding() and trace().
  static void Decode(ReceivedMessage& r, const TypeRegistry& registry, const DecodeLimits& limits,
                     MessagePool* pool);
  // Sets trace() from the traceparent header only (records read without decoding).
  static void TraceFromHeaders(ReceivedMessage& r);
  // Sets a decoded message directly (testing.h), not pooled.
  static void SetMessage(ReceivedMessage& r, std::unique_ptr<google::protobuf::Message> message,
                         Encoding encoding);
  static void SetDecodeStatus(ReceivedMessage& r, absl::Status status, Encoding encoding);
};

}  // namespace internal
}  // namespace messagecorps
