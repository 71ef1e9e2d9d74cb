// libFuzzer target for the gateway's request-body parsers (messagecorps/payload.h): JSON (the
// protobuf JSON mapping and the original's {"protobuf": "<hex>"}), encoded record values in every
// encoding and detected, serialized bytes checked field by field, and Any payloads.
// The first input byte picks the form and the target type (protobuf.data.Image or
// protobuf.predictions.Prediction); the rest is the payload. Besides "no crash, no sanitizer
// report" it checks:
//   - failures are only kInvalidArgument or kResourceExhausted, and a field path, when present,
//     starts with a field of the type (or names the unknown field the error is about);
//   - CheckSerialized and ParseSerialized agree;
//   - what is accepted re-serializes to bytes ParseSerialized accepts again, as the same message.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "messagecorps/codec.h"
#include "messagecorps/payload.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace {

namespace pb = google::protobuf;

// The invariant's text is printed before the abort: the crash input alone does not say which.
#define FUZZ_CHECK(condition) messagecorps::fuzz::Check((condition), #condition)

void CheckFailure(const absl::Status& s, const pb::Descriptor* type) {
  FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
             s.code() == absl::StatusCode::kResourceExhausted);
  const std::string path = messagecorps::FieldPathOf(s);
  if (path.empty() || path[0] == '[') return;
  const std::string first = path.substr(0, path.find_first_of(".["));
  // The path starts at a field of the type, unless the error is that the field does not exist.
  const bool unknown = s.message().find("no such field") != absl::string_view::npos;
  FUZZ_CHECK(unknown || type->FindFieldByName(first) != nullptr ||
             type->FindFieldByCamelcaseName(first) != nullptr);
}

void CheckRoundTrip(const pb::Message& message, const messagecorps::PayloadLimits& limits) {
  std::unique_ptr<pb::Message> again(message.New());
  const std::string bytes = message.SerializeAsString();
  FUZZ_CHECK(messagecorps::ParseSerialized(bytes, again.get(), limits).ok());
  // Bytes, not MessageDifferencer: a NaN double is not equal to itself.
  FUZZ_CHECK(again->SerializeAsString() == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // protobuf logs parse failures (e.g. invalid UTF-8) at error level: keep the run quiet.
  pb::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  protobuf::data::Image image;
  protobuf::predictions::Prediction prediction;
  pb::Message* out = (selector & 0x80) ? static_cast<pb::Message*>(&prediction) : &image;
  const pb::Descriptor* type = out->GetDescriptor();
  messagecorps::PayloadLimits limits;
  limits.max_bytes = 1 << 20;  // small, so that zlib bombs are cheap to hit under ASan
  limits.max_depth = 32;
  std::string scratch;
  absl::Status s;
  switch (selector & 0x07) {
    case 0:
      s = messagecorps::ParseJsonPayload(payload, out, limits);
      (void)messagecorps::IsSeedRestJson(payload, type);
      break;
    case 1: {
      s = messagecorps::ParseSerialized(payload, out, limits);
      const absl::Status checked = messagecorps::CheckSerialized(payload, type, limits);
      FUZZ_CHECK(checked.ok() == s.ok());
      break;
    }
    case 2:
      s = messagecorps::ParseEncodedPayload(payload, messagecorps::Encoding::kSeed, out, &scratch,
                                            limits);
      break;
    case 3:
      s = messagecorps::ParseEncodedPayload(payload, messagecorps::Encoding::kRaw, out, &scratch,
                                            limits);
      break;
    case 4:
      s = messagecorps::ParseEncodedPayload(payload, messagecorps::Encoding::kConfluent, out,
                                            &scratch, limits);
      break;
    case 5:
      s = messagecorps::ParseEncodedPayload(payload, std::nullopt, out, &scratch, limits);
      break;
    default: {
      // Any: the first half (up to a NUL) is the type URL, the rest the value.
      const size_t nul = payload.find('\0');
      const std::string_view url = payload.substr(0, nul);
      const std::string_view value =
          nul == std::string_view::npos ? std::string_view() : payload.substr(nul + 1);
      s = messagecorps::ParseAnyPayload(url, value, out, limits);
      break;
    }
  }
  CheckFailure(s, type);
  if (s.ok()) CheckRoundTrip(*out, limits);
  return 0;
}
