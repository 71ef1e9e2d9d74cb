// libFuzzer target: `mcorps produce`'s input — JSON lines (optionally KEY:JSON) read by
// tools/mcorps/json_lines.h into a protobuf message, then stamped with the envelope as a send
// does. The first byte picks the message type (generated Image or Prediction, or Image as a
// DynamicMessage, as types from descriptor sets are built), whether lines carry a key, and the
// line limit (small limits reach the overlong-line path); the rest is the file.
// Invariants besides "no crash, no sanitizer report":
//   - every line has an outcome: a message, or an error that is kInvalidArgument (malformed) or
//     kResourceExhausted (over the limit); line numbers only grow;
//   - a parsed message prints as JSON that parses back to the same message (what `mcorps consume`
//     prints can be produced again);
//   - Stamp either fills the envelope or refuses a malformed trace id with kInvalidArgument.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <sstream>
#include <string>

#include "fuzz_support.h"
#include "json_format.h"
#include "json_lines.h"
#include "messagecorps/envelope.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace {

namespace pb = google::protobuf;
using messagecorps::fuzz::Check;

std::unique_ptr<pb::Message> NewMessage(int which) {
  static pb::DynamicMessageFactory* factory = new pb::DynamicMessageFactory();
  switch (which % 3) {
    case 0:
      return std::make_unique<protobuf::data::Image>();
    case 1:
      return std::make_unique<protobuf::predictions::Prediction>();
    default:
      return std::unique_ptr<pb::Message>(
          factory->GetPrototype(protobuf::data::Image::descriptor())->New());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);
  // protobuf's JSON conversion sets itself up on first use, its error paths too (tens of ms under
  // ASan): done here, so that no input's time includes it.
  for (char type : {'\x10', '\x11', '\x12'}) {  // the three types, the default line limit
    const std::string warm = std::string(1, type) + R"({"frame": 1, "_message_data": {}}
{"unknown": 1}
{"frame": "x"}
{"frame": 1e400}
{)";
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(warm.data()), warm.size());
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t control = data[0];
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  // Limits from 1 byte to the default: the overlong path, and lines that just fit.
  static constexpr size_t kLimits[] = {1, 16, 100, 4096, mcorps::kDefaultMaxLineBytes};
  const size_t limit = kLimits[(control >> 2) % 5];
  const std::string delimiter = (control & 0x80) != 0 ? ":" : "";

  std::istringstream in(text);
  mcorps::JsonLineReader reader(in, delimiter, limit);
  std::unique_ptr<pb::Message> message = NewMessage(control & 3);
  std::unique_ptr<pb::Message> again = NewMessage(control & 3);
  std::optional<std::string> key;
  absl::Status error;
  int64_t last_line = 0;
  while (reader.Next(*message, key, error)) {
    Check(reader.line() > last_line, "line numbers grow");
    last_line = reader.line();
    if (!error.ok()) {
      Check(error.code() == absl::StatusCode::kInvalidArgument ||
                error.code() == absl::StatusCode::kResourceExhausted,
            "a bad line is kInvalidArgument or kResourceExhausted");
      continue;
    }
    if (!delimiter.empty()) Check(key.has_value(), "a keyed line has a key");

    mcorps::PrintOptions print;
    absl::StatusOr<mcorps::Json> json = mcorps::MessageToJson(*message, print);
    // Printing refuses only what protobuf cannot print (e.g. a string field that is not UTF-8).
    if (json.ok()) {
      absl::Status back = mcorps::ParseMessageJson(mcorps::DumpJson(*json), again.get());
      Check(back.ok(), "printed JSON parses again");
      Check(pb::util::MessageDifferencer::Equivalent(*message, *again),
            "JSON round trip gives the same message");
    }

    messagecorps::EnvelopeSettings settings;
    absl::StatusOr<messagecorps::Envelope> stamped = messagecorps::Stamp(*message, settings);
    Check(stamped.ok() || stamped.status().code() == absl::StatusCode::kInvalidArgument,
          "Stamp refuses only with kInvalidArgument");
  }
  return 0;
}
