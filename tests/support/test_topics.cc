#include "support/test_topics.h"

#include <random>

#include "absl/strings/str_format.h"

namespace messagecorps::testing {

std::string UniqueName(const std::string& prefix) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("%s-%012x", prefix, rng() & 0xffffffffffffULL);
}

}  // namespace messagecorps::testing
