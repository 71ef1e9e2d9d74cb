// libFuzzer target: the client properties file (`mcorps -F`, kcat style), ParsePropertiesText.
// Invariants besides "no crash, no sanitizer report":
//   - a failure is kInvalidArgument naming the source and a line number within the text;
//   - what parses has non-empty keys without '=', and keys and values without surrounding
//     whitespace, '\n' or NUL; written back as key=value lines it parses to the same map.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "fuzz_support.h"
#include "messagecorps/client_config.h"

namespace {

using messagecorps::fuzz::Check;

bool Trimmed(std::string_view s) {
  auto space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  return s.empty() || (!space(s.front()) && !space(s.back()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = messagecorps::ParsePropertiesText(text, "fuzz.properties");
  if (!parsed.ok()) {
    Check(parsed.status().code() == absl::StatusCode::kInvalidArgument, "kInvalidArgument");
    Check(parsed.status().message().rfind("fuzz.properties:", 0) == 0, "names the source");
    return 0;
  }
  std::string written;
  for (const auto& [key, value] : *parsed) {
    Check(!key.empty() && key.find('=') == std::string::npos, "a key is non-empty, without '='");
    Check(key[0] != '#', "a comment is not a key");
    for (std::string_view s : {std::string_view(key), std::string_view(value)}) {
      Check(Trimmed(s), "keys and values are trimmed");
      Check(s.find('\n') == std::string_view::npos && s.find('\0') == std::string_view::npos,
            "no newline or NUL in a key or value");
    }
    absl::StrAppend(&written, key, "=", value, "\n");
  }
  auto again = messagecorps::ParsePropertiesText(written);
  Check(again.ok() && *again == *parsed, "written back, the properties parse the same");
  return 0;
}
