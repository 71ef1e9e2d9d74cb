// The envelope of a received record, for subscribers: the message's `_message_data` when its type
// has one (offset and partition already filled by the consumer), else the same facts from the
// record's CloudEvents headers (ce_id -> uuid, ce_time -> iso_date, ce_source -> sending_service,
// traceparent -> trace_id/span_id) and its Kafka coordinates.
//
// Thread-safety: pure function.
#pragma once

#include "messagecorps/consumer.h"
#include "protobuf/common/MessageData.pb.h"

namespace messagecorps::gateway {

protobuf::common::messageData RecordEnvelope(const ReceivedMessage& record);

}  // namespace messagecorps::gateway
