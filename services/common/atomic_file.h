// Writing a small file so that a reader never sees it partly written.
#pragma once

#include <string>

#include "absl/status/status.h"

namespace messagecorps::services {

// Writes `text` to PATH.tmp and renames it to `path`. kUnavailable naming the file on failure.
absl::Status WriteFileAtomically(const std::string& path, const std::string& text);

}  // namespace messagecorps::services
