// Unique topic and group names so tests can share one broker and run in parallel.
#pragma once

#include <string>

namespace messagecorps::testing {

// "<prefix>-<random 12 hex>" — valid Kafka topic / group name.
std::string UniqueName(const std::string& prefix);

}  // namespace messagecorps::testing
