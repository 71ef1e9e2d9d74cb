// libFuzzer target: what a consumer reads from a record's headers — the CloudEvents / encoding
// headers (ParseHeaders), W3C traceparent, the envelope's trace ids (TraceContext::FromIds,
// SetTraceId, and _message_data.trace_id through Stamp and TraceOf).
// Input: lines "name:value" (the first ':' splits; a line without one is a name with an empty
// value); each line's whole text is also tried as a traceparent, an encoding name and a trace id.
// Invariants besides "no crash, no sanitizer report":
//   - ParseHeaders never fails: malformed values become `problems`; a trace it returns re-renders
//     as a traceparent that parses to the same ids;
//   - a traceparent that parses has lowercase 32/16 hex ids and renders back (version 00) as
//     itself, up to the flags' unused bits;
//   - ids accepted by FromIds/SetTraceId come back lowercased; refusals are kInvalidArgument.
#include <google/protobuf/stubs/logging.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/envelope.h"
#include "messagecorps/trace_context.h"
#include "protobuf/data/ImageData.pb.h"

namespace {

using messagecorps::TraceContext;
using messagecorps::fuzz::Check;
using messagecorps::fuzz::CheckInputError;

bool IsLowerHex(std::string_view s, size_t size) {
  if (s.size() != size) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

void CheckTrace(const TraceContext& t) {
  Check(IsLowerHex(t.trace_id(), 32), "trace id is 32 lowercase hex digits");
  Check(t.span_id().empty() || IsLowerHex(t.span_id(), 16), "span id is 16 lowercase hex digits");
  if (t.span_id().empty()) return;
  const std::string tp = t.ToTraceparent();
  absl::StatusOr<TraceContext> again = TraceContext::FromTraceparent(tp);
  Check(again.ok(), "a rendered traceparent parses");
  Check(again->trace_id() == t.trace_id() && again->span_id() == t.span_id() &&
            again->sampled() == t.sampled(),
        "traceparent round trip keeps ids and the sampled flag");
}

void FuzzTraceparent(std::string_view value) {
  absl::StatusOr<TraceContext> t = TraceContext::FromTraceparent(value);
  if (!t.ok()) {
    Check(t.status().code() == absl::StatusCode::kInvalidArgument, "traceparent: kInvalidArgument");
    return;
  }
  CheckTrace(*t);
  Check(value.size() >= 55, "a valid traceparent is at least 55 characters");
  Check(t->trace_id() == value.substr(3, 32) && t->span_id() == value.substr(36, 16),
        "ids are taken as they are");
  if (value.substr(0, 2) == "00") {
    Check(value.size() == 55, "version 00 is exactly 55 characters");
    Check(t->ToTraceparent().substr(0, 53) == value.substr(0, 53), "version 00 renders as itself");
  }
}

void FuzzIds(std::string_view line) {
  // trace id, then span id: the line cut at 32 characters.
  const std::string_view trace = line.substr(0, 32);
  const std::string_view span = line.size() > 32 ? line.substr(32) : std::string_view();
  absl::StatusOr<TraceContext> t = TraceContext::FromIds(trace, span);
  if (t.ok()) {
    CheckTrace(*t);
    Check(t->trace_id() == Lower(trace), "FromIds lowers the trace id");
    if (!span.empty()) Check(t->span_id() == Lower(span), "FromIds lowers the span id");
  } else {
    Check(t.status().code() == absl::StatusCode::kInvalidArgument, "FromIds: kInvalidArgument");
  }
  TraceContext fresh = TraceContext::NewTrace();
  const std::string before(fresh.trace_id());
  absl::Status s = fresh.SetTraceId(line);
  if (s.ok()) {
    Check(fresh.trace_id() == Lower(line), "SetTraceId lowers");
  } else {
    Check(s.code() == absl::StatusCode::kInvalidArgument, "SetTraceId: kInvalidArgument");
    Check(fresh.trace_id() == before, "a refused SetTraceId changes nothing");
  }

  // The envelope path: a message whose _message_data carries these ids, as received or as sent.
  protobuf::data::Image image;
  image.mutable__message_data()->set_trace_id(std::string(trace));
  image.mutable__message_data()->set_span_id(std::string(span));
  TraceContext received = messagecorps::TraceOf(image);
  if (!received.empty()) CheckTrace(received);
  messagecorps::EnvelopeSettings settings;
  absl::StatusOr<messagecorps::Envelope> stamped = messagecorps::Stamp(image, settings);
  CheckInputError(stamped.status(), "Stamp: only input errors");
  if (stamped.ok()) CheckTrace(stamped->trace);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  google::protobuf::SetLogHandler(nullptr);  // protobuf's invalid-UTF-8 warnings: noise here
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  messagecorps::Headers headers;
  for (std::string_view line : messagecorps::fuzz::Split(input, '\n')) {
    const size_t colon = line.find(':');
    headers.emplace_back(
        std::string(line.substr(0, colon)),
        colon == std::string_view::npos ? "" : std::string(line.substr(colon + 1)));
    FuzzTraceparent(headers.back().second);
    FuzzTraceparent(line);
    FuzzIds(line);
    absl::StatusOr<messagecorps::Encoding> e = messagecorps::ParseEncoding(headers.back().second);
    if (e.ok()) {
      Check(Lower(headers.back().second) == messagecorps::EncodingName(*e),
            "an encoding name parses to itself, case-insensitively");
    }
    const std::string source = messagecorps::CloudEventsSource(headers.back().second);
    Check(source.rfind("/messagecorps/", 0) == 0, "ce_source has its prefix");
  }

  messagecorps::ReceivedHeaders parsed = messagecorps::ParseHeaders(headers);
  if (parsed.trace) CheckTrace(*parsed.trace);
  if (auto tp = messagecorps::FindHeader(headers, messagecorps::header::kTraceparent)) {
    Check(parsed.trace.has_value() == TraceContext::FromTraceparent(*tp).ok(),
          "ParseHeaders keeps exactly the valid traceparent");
  }
  if (auto id = messagecorps::FindHeader(headers, messagecorps::header::kId)) {
    Check(parsed.id && *parsed.id == *id, "ce_id is the last value");
  }
  if (parsed.type) Check(!parsed.type->empty(), "a type is never empty");
  return 0;
}
