// messagecorps/testing.h — received records made in memory, for unit tests of handlers and
// middleware without a broker.
//
// A ReceivedMessage normally comes from Consumer::Poll. These factories make the same object from
// fields: every accessor (topic, partition, offset, key, value, headers, header, timestamp_ms,
// encoding, decode_status, message, As<T>, trace) answers as it would for a record read from
// Kafka, and the value goes through the consumer's own decoding, so a test sees what a handler
// would see in production, including a record that does not decode:
//
//   Image image;  image.set_frame(7);
//   ReceivedMessage record = testing::MakeReceivedMessage(image, {.topic = "VideoStream"});
//   HandlerResult out = my_handler(record);                 // or middleware::Retry(...)(h)(record)
//   ReceivedMessage garbage = testing::MakeReceivedRecord("\x0f\x01", {.topic = "VideoStream"});
//   // garbage.decode_status(): kInvalidArgument, GetErrorReason == kMalformedRecord
//
// Ownership: the records own copies of everything given. Thread-safety: the functions may be
// called from any thread; a record is used like any ReceivedMessage.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/consumer.h"
#include "messagecorps/envelope.h"

namespace google::protobuf {
class Message;
}

namespace messagecorps {

class TypeRegistry;

namespace testing {

// Where a made record says it was read from, and what else it carried.
struct RecordFields {
  std::string topic = "test";
  int32_t partition = 0;
  int64_t offset = 0;
  std::optional<std::string> key = std::nullopt;
  // MakeReceivedRecord: exactly these headers. MakeReceivedMessage: the standard headers a
  // Producer adds (cloud_events.h), then these.
  Headers headers = {};
  int64_t timestamp_ms = -1;  // -1: none
};

// A record whose value is `value`, exactly as given, decoded as a Consumer decodes it: the
// encoding detected from the bytes (the mcorps-encoding header where they are ambiguous); the
// type from `registry` (null: the seed defaults, VideoStream -> Image, Predictions -> Prediction)
// or named by the value's `_message_data.type`, else by a ce_type header.
// Malformed values give a record without message() whose decode_status() says why.
ReceivedMessage MakeReceivedRecord(std::string_view value, const RecordFields& fields = {},
                                   const TypeRegistry* registry = nullptr,
                                   const DecodeLimits& limits = {});

// A record carrying `message` as a Producer would have sent it and a Consumer received it: a copy
// is stamped (envelope.h; `sender` says who sent it, and a trace_id already in the message is
// kept), encoded with `encoding`, given the standard headers, and decoded again into a new message
// of the same type with `_message_data.offset/partition` filled. Its type needs no registry. An
// encoding that fails (e.g. a bad trace id in the message) gives a record without message() whose
// decode_status() carries that error.
ReceivedMessage MakeReceivedMessage(const google::protobuf::Message& message,
                                    const RecordFields& fields = {},
                                    const EncodeOptions& encoding = {},
                                    const EnvelopeSettings& sender = {"test"});

}  // namespace testing
}  // namespace messagecorps
