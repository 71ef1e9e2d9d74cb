// libFuzzer target for everything that reads untrusted record values: content detection, Unwrap and
// Decode (into protobuf.data.Image) with every encoding, Confluent framing, the envelope read from
// what decoded (TraceOf, FillReceiveInfo, as the Consumer does), and the REST form. The seed corpus
// holds golden records of every encoding and zlib bombs (tests/fuzz/corpus/README.md).
// Besides "no crash, no sanitizer report", it checks the codec's invariants:
//   - failures are only kInvalidArgument or kResourceExhausted, a seed payload never exceeds the
//     decode limit, and a value over the record limit is refused (reason kDecodeLimit) whatever
//     it holds;
//   - what decodes re-encodes and decodes to the same message (seed, raw and Confluent);
//   - a parsed Confluent frame re-parses identically after re-encoding; the REST form round-trips.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/error.h"
#include "messagecorps/trace_context.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

using messagecorps::Encoding;
using protobuf::data::Image;

// The limit is small so that zlib bombs are cheap to hit and memory stays low under ASan.
constexpr size_t kLimit = 1 << 20;

// The invariant's text is printed before the abort: the crash input alone does not say which.
#define FUZZ_CHECK(condition) messagecorps::fuzz::Check((condition), #condition)

void CheckFailureCode(const absl::Status& s) {
  FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
             s.code() == absl::StatusCode::kResourceExhausted);
}

messagecorps::EncodeOptions OptionsFor(Encoding e, std::string_view value) {
  messagecorps::EncodeOptions o;
  o.encoding = e;
  if (e == Encoding::kConfluent) {
    absl::StatusOr<messagecorps::ConfluentFrame> frame = messagecorps::ParseConfluentFrame(value);
    FUZZ_CHECK(frame.ok());
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
    FUZZ_CHECK(payload->size() <= kLimit);
    // Seed round trip of the bytes themselves.
    std::string again, scratch2;
    FUZZ_CHECK(messagecorps::EncodeSerialized(*payload, OptionsFor(encoding, value), &again).ok());
    absl::StatusOr<std::string_view> back =
        messagecorps::Unwrap(again, Encoding::kSeed, limits, &scratch2);
    FUZZ_CHECK(back.ok() && *back == *payload);
  }

  // The wire-format walks a consumer does before parsing (the type and uuid an envelope names).
  const int envelope_number = messagecorps::EnvelopeField(Image::descriptor())->number();
  std::optional<std::string_view> walked_type;
  if (payload.ok()) {
    walked_type = messagecorps::EnvelopeTypeInBytes(*payload, envelope_number);
    if (walked_type) {
      FUZZ_CHECK(walked_type->data() >= payload->data() &&
                 walked_type->data() + walked_type->size() <= payload->data() + payload->size());
    }
    const auto* found = messagecorps::FindEnvelopeType(
        *payload, [](std::string_view name) -> const google::protobuf::Descriptor* {
          return name == "protobuf.data.Image" ? Image::descriptor() : nullptr;
        });
    FUZZ_CHECK(found == nullptr || found == Image::descriptor());
    const std::optional<std::string_view> uuid = messagecorps::EnvelopeUuidInBytes(*payload);
    FUZZ_CHECK(!uuid || uuid->size() == 36);
  }

  Image image;
  const absl::Status s = messagecorps::Decode(value, encoding, &image, limits, &scratch);
  CheckFailureCode(s);
  FUZZ_CHECK(s.ok() == payload.ok() || !payload.ok() ||
             s.code() == absl::StatusCode::kInvalidArgument);
  if (!s.ok()) return;
  // What the walk found is what the parse found (protobuf merges repeated occurrences of the
  // envelope; the last `type` wins in both).
  FUZZ_CHECK(!walked_type || *walked_type == image._message_data().type());

  // The envelope, as the Consumer reads it from a decoded record.
  const messagecorps::TraceContext trace = messagecorps::TraceOf(image);
  FUZZ_CHECK(trace.empty() || trace.trace_id().size() == 32);
  protobuf::data::Image located = image;
  messagecorps::FillReceiveInfo(located, 42, 7);
  FUZZ_CHECK(located._message_data().offset() == 42 && located._message_data().partition() == 7);

  std::string encoded;
  FUZZ_CHECK(messagecorps::Encode(image, OptionsFor(encoding, value), &encoded).ok());
  protobuf::data::Image again;
  messagecorps::DecodeLimits no_limit;
  no_limit.max_decoded_bytes = 64u << 20;  // re-serializing may grow varints; never by much
  FUZZ_CHECK(messagecorps::Decode(encoded, encoding, &again, no_limit, &scratch).ok());
  FUZZ_CHECK(again.SerializeAsString() == image.SerializeAsString());
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
  // Without a type, only a value that looks like zlib is ambiguous (the header decides then).
  FUZZ_CHECK(messagecorps::EncodingAmbiguous(value, nullptr) == (detected == Encoding::kSeed));
  (void)messagecorps::EncodingAmbiguous(value, Image::descriptor());
  if (detected == Encoding::kSeed) FUZZ_CHECK(size >= 2 && data[0] == 0x78);
  if (detected == Encoding::kConfluent) FUZZ_CHECK(size >= 1 && data[0] == 0);
  for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) FuzzDecode(value, e);

  if (size > 0) {  // one byte over the record limit: refused before anything is read
    messagecorps::DecodeLimits small;
    small.max_record_bytes = size - 1;
    std::string scratch;
    for (Encoding e : {Encoding::kSeed, Encoding::kRaw, Encoding::kConfluent}) {
      const absl::Status s = messagecorps::Unwrap(value, e, small, &scratch).status();
      FUZZ_CHECK(s.code() == absl::StatusCode::kResourceExhausted &&
                 messagecorps::GetErrorReason(s) == messagecorps::ErrorReason::kDecodeLimit);
    }
  }

  absl::StatusOr<messagecorps::ConfluentFrame> frame = messagecorps::ParseConfluentFrame(value);
  CheckFailureCode(frame.status());
  if (frame.ok()) {
    FUZZ_CHECK(frame->header_size >= 6 && frame->header_size <= size);
    FUZZ_CHECK(!frame->message_indexes.empty());
    messagecorps::EncodeOptions o;
    o.encoding = Encoding::kConfluent;
    o.schema_id = frame->schema_id;
    o.message_indexes = frame->message_indexes;
    std::string reencoded;
    FUZZ_CHECK(
        messagecorps::EncodeSerialized(value.substr(frame->header_size), o, &reencoded).ok());
    absl::StatusOr<messagecorps::ConfluentFrame> again =
        messagecorps::ParseConfluentFrame(reencoded);
    FUZZ_CHECK(again.ok() && again->schema_id == frame->schema_id &&
               again->message_indexes == frame->message_indexes &&
               reencoded.substr(again->header_size) == value.substr(frame->header_size));
  }

  absl::StatusOr<std::string> rest = messagecorps::FromSeedRestJson(value);
  CheckFailureCode(rest.status());
  if (rest.ok()) {
    absl::StatusOr<std::string> back =
        messagecorps::FromSeedRestJson(messagecorps::ToSeedRestJson(*rest));
    FUZZ_CHECK(back.ok() && *back == *rest);
  }
  return 0;
}
