#include "messagecorps/testing.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <memory>
#include <utility>

#include "messagecorps/type_registry.h"
#include "received_message_access.h"

namespace messagecorps::testing {

namespace {

using internal::ReceivedMessageAccess;

internal::LocalRecord Fields(const RecordFields& fields, std::string value, Headers headers) {
  internal::LocalRecord record;
  record.topic = fields.topic;
  record.partition = fields.partition;
  record.offset = fields.offset;
  record.key = fields.key;
  record.value = std::move(value);
  record.headers = std::move(headers);
  record.timestamp_ms = fields.timestamp_ms;
  return record;
}

}  // namespace

ReceivedMessage MakeReceivedRecord(std::string_view value, const RecordFields& fields,
                                   const TypeRegistry* registry, const DecodeLimits& limits) {
  ReceivedMessage record =
      ReceivedMessageAccess::FromFields(Fields(fields, std::string(value), fields.headers));
  if (registry != nullptr) {
    ReceivedMessageAccess::Decode(record, *registry, limits, nullptr);
  } else {
    static const TypeRegistry* const seed = new TypeRegistry(TypeRegistry::WithSeedDefaults());
    ReceivedMessageAccess::Decode(record, *seed, limits, nullptr);
  }
  return record;
}

ReceivedMessage MakeReceivedMessage(const google::protobuf::Message& message,
                                    const RecordFields& fields, const EncodeOptions& encoding,
                                    const EnvelopeSettings& sender) {
  std::unique_ptr<google::protobuf::Message> sent(message.New());
  sent->CopyFrom(message);
  absl::StatusOr<Envelope> envelope = Stamp(*sent, sender);
  std::string value;
  absl::Status encoded = envelope.ok() ? Encode(*sent, encoding, &value) : envelope.status();
  Headers headers;
  if (envelope.ok()) {
    ForEachEnvelopeHeader(*envelope, sent->GetDescriptor()->full_name(), encoding.encoding,
                          CloudEventsSource(sender.service),
                          [&headers](std::string_view key, std::string_view header_value) {
                            headers.emplace_back(key, header_value);
                          });
  }
  headers.insert(headers.end(), fields.headers.begin(), fields.headers.end());
  ReceivedMessage record =
      ReceivedMessageAccess::FromFields(Fields(fields, std::move(value), std::move(headers)));
  if (!encoded.ok()) {
    ReceivedMessageAccess::SetDecodeStatus(record, encoded, encoding.encoding);
    return record;
  }
  std::unique_ptr<google::protobuf::Message> received(message.New());
  std::string scratch;
  absl::Status decoded = Decode(record.value(), encoding.encoding, received.get(), {}, &scratch);
  if (!decoded.ok()) {
    ReceivedMessageAccess::SetDecodeStatus(record, decoded, encoding.encoding);
  } else {
    ReceivedMessageAccess::SetMessage(record, std::move(received), encoding.encoding);
  }
  return record;
}

}  // namespace messagecorps::testing
