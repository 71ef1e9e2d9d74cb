// messagecorps/string_view.h — one conversion between std::string_view and abseil's string_view.
//
// Debian 12's abseil (20220623) is built without ABSL_USES_STD_STRING_VIEW, so absl::string_view is
// its own type, and protobuf 3.21's status messages and StringPiece are not std::string_view
// either. Convert at the boundary with these instead of copying: both are views, nothing is
// allocated.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/string_view.h"

namespace messagecorps {

// A view of the same characters as an absl::string_view (no copy; `s` must outlive it).
inline absl::string_view AsAbsl(std::string_view s) { return {s.data(), s.size()}; }

// A view of the same characters as a std::string_view, from absl::string_view, protobuf's
// StringPiece, or anything else with data() and size().
template <class View>
std::string_view AsStd(const View& s) {
  return {s.data(), static_cast<size_t>(s.size())};
}

// An owning copy of such a view (e.g. a status message kept after the status is gone).
template <class View>
std::string ToString(const View& s) {
  return std::string(s.data(), static_cast<size_t>(s.size()));
}

}  // namespace messagecorps
