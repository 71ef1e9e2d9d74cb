// What the fuzz targets share: an invariant check that stops the run with the failing input
// (libFuzzer saves it as crash-<sha1>), and splitting one input into several fields.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace messagecorps::fuzz {

// An invariant that does not hold is a bug like a crash: abort, so the input is kept.
inline void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz invariant violated: %s\n", what);
    std::abort();
  }
}

// Malformed input may fail only with these codes: anything else (kInternal, kUnknown, ...) means a
// parser reached a state it did not expect.
inline void CheckInputError(const absl::Status& s, const char* what) {
  Check(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
            s.code() == absl::StatusCode::kResourceExhausted ||
            s.code() == absl::StatusCode::kNotFound,
        what);
}

// `data` split at every `separator` (the parts do not include it; n separators give n+1 parts).
inline std::vector<std::string_view> Split(std::string_view data, char separator) {
  std::vector<std::string_view> parts;
  for (;;) {
    const size_t at = data.find(separator);
    parts.push_back(data.substr(0, at));
    if (at == std::string_view::npos) return parts;
    data.remove_prefix(at + 1);
  }
}

}  // namespace messagecorps::fuzz
