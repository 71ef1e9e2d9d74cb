// libFuzzer target for everything that reads untrusted record values: content detection, Unwrap and
// Decode (into protobuf.data.Image) with every encoding, Confluent framing, and the REST form.
// Besides "no crash, no sanitizer report", it checks the codec's invariants:
//   - failures are only kInvalidArgument or kResourceExhausted, and a seed payload never exceeds
//   the
//     decode limit;
//   - what decodes re-encodes and decodes to the same message (seed, raw and Confluent);
//   - a parsed Confluent frame re-parses identically after re-encoding; the REST form round-trips.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "messagecorps/codec.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

using messagecorps::Encoding;

// The limit is small so that zlib bombs are cheap to hit and memory stays low under ASan.
constexpr size_t kLimit = 1 << 20;

void Check(bool condition) {
  if (!condition) std::abort();
}

void CheckFailureCode(const absl::Status& s) {
  Check(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
        s.code() == absl::StatusCode::kResourceExhausted);
}

messagecorps::EncodeOptions OptionsFor(Encoding e, std::string_view value) {
  messagecorps::EncodeOptions o;
  o.encoding = e;
  if (e == Encoding::kConfluent) {
    absl::StatusOr<messagecorps::ConfluentFrame> frame = messagecorps::ParseConfluentFrame(value);
    Check(frame.ok());
    o.schema_id = frame->schema_id;
    o.message_indexes = frame->message_indexes;
  }
  return o;
}

void FuzzDecode(std::string_view value, Encoding encoding) {
  messagecorps::DecodeLimits limits;
  limits.max_decoded_bytes = kLimit;
  std::string scratch;
  absl::StatusOr<std::string_view> payload =
      messagecorps::Unwrap(value, encoding, limits, &scratch);
  CheckFailureCode(payload.status());
  if (payload.ok() && encoding == Encoding::kSeed) {
    Check(payload->size() <= kLimit);
    // Seed round trip of the bytes themselves.
    std::string again, scratch2;
    Check(messagecorps::EncodeSerialized(*payload, OptionsFor(encoding, value), &again).ok());
    absl::StatusOr<std::string_view> back =
        messagecorps::Unwrap(again, Encoding::kSeed, limits, &scratch2);
    Check(back.ok() && *back == *payload);
  }

  protobuf::data::Image image;
  const absl::Status s = messagecorps::Decode(value, encoding, &image, limits, &scratch);
  CheckFailureCode(s);
  Check(s.ok() == payload.ok() || !payload.ok() || s.code() == absl::StatusCode::kInvalidArgument);
  if (!s.ok()) return;

  std::string encoded;
  Check(messagecorps::Encode(image, OptionsFor(encoding, value), &encoded).ok());
  protobuf::data::Image again;
  messagecorps::DecodeLimits no_limit;
  no_limit.max_decoded_bytes = 64u << 20;  // re-serializing may grow varints; never by much
  Check(messagecorps::Decode(encoded, encoding, &again, no_limit, &scratch).ok());
  Check(again.SerializeAsString() == image.SerializeAsString());
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  // Invalid UTF-8 in proto3 strings is logged by protobuf on every parse: noise here.
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view value(reinterpret_cast<const char*>(data), size);

  const Encoding detected = messagecorps::DetectEncoding(value);
  if (detected == Encoding::kSeed) Check(size >= 2 && data[0] == 0x78);
  if (detected == Encoding::kConfluent) Check(size >= 1 && data[0] == 0);
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) FuzzDecode(value, e);

  absl::StatusOr<messagecorps::ConfluentFrame> frame = messagecorps::ParseConfluentFrame(value);
  CheckFailureCode(frame.status());
  if (frame.ok()) {
    Check(frame->header_size >= 6 && frame->header_size <= size);
    Check(!frame->message_indexes.empty());
    messagecorps::EncodeOptions o;
    o.encoding = Encoding::kConfluent;
    o.schema_id = frame->schema_id;
    o.message_indexes = frame->message_indexes;
    std::string reencoded;
    Check(messagecorps::EncodeSerialized(value.substr(frame->header_size), o, &reencoded).ok());
    absl::StatusOr<messagecorps::ConfluentFrame> again =
        messagecorps::ParseConfluentFrame(reencoded);
    Check(again.ok() && again->schema_id == frame->schema_id &&
          again->message_indexes == frame->message_indexes &&
          reencoded.substr(again->header_size) == value.substr(frame->header_size));
  }

  absl::StatusOr<std::string> rest = messagecorps::FromSeedRestJson(value);
  CheckFailureCode(rest.status());
  if (rest.ok()) {
    absl::StatusOr<std::string> back =
        messagecorps::FromSeedRestJson(messagecorps::ToSeedRestJson(*rest));
    Check(back.ok() && *back == *rest);
  }
  return 0;
}
