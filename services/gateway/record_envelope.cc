#include "gateway/record_envelope.h"

#include <google/protobuf/message.h>

#include "messagecorps/cloud_events.h"
#include "messagecorps/envelope.h"

namespace messagecorps::gateway {

protobuf::common::messageData RecordEnvelope(const ReceivedMessage& record) {
  protobuf::common::messageData out;
  if (record.message() != nullptr) {
    if (const google::protobuf::Message* envelope = EnvelopeOf(*record.message())) {
      if (envelope->GetDescriptor() == protobuf::common::messageData::descriptor()) {
        out.CopyFrom(*envelope);
      } else {
        // A DynamicMessage of the same schema (a type loaded from a descriptor set).
        out.ParseFromString(envelope->SerializeAsString());
      }
      return out;
    }
  }
  const ReceivedHeaders headers = ParseHeaders(record.headers());
  if (headers.id) out.set_uuid(*headers.id);
  if (headers.time) out.set_iso_date(*headers.time);
  if (headers.source) {
    constexpr std::string_view kPrefix = "/messagecorps/";
    std::string_view source = *headers.source;
    if (source.substr(0, kPrefix.size()) == kPrefix) source.remove_prefix(kPrefix.size());
    out.set_sending_service(std::string(source));
  }
  if (!record.trace().empty()) {
    out.set_trace_id(std::string(record.trace().trace_id()));
    out.set_span_id(std::string(record.trace().span_id()));
  }
  out.set_offset(record.offset());
  out.set_partition(record.partition());
  return out;
}

}  // namespace messagecorps::gateway
