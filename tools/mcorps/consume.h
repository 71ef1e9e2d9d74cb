// mcorps: reading records for `consume` and `trace` — where to start (-o), and the consumer that
// reads without a group (explicit partition assignment) or in one (-G).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/consumer.h"

namespace mcorps {

// kcat's -o: beginning | end | OFFSET | -N (N from the end) | @TIMESTAMP_MS.
struct StartSpec {
  enum Kind { kBeginning, kEnd, kOffset, kFromEnd, kTimestamp } kind = kBeginning;
  int64_t value = 0;
};
absl::StatusOr<StartSpec> ParseStartSpec(std::string_view text);

// Every partition of `topics` (restricted to `partitions` when not empty), each with the start
// offset `start` means; timestamps are resolved with the brokers. kNotFound for a missing topic or
// partition, other errors when the brokers do not answer within `timeout`.
absl::StatusOr<std::vector<messagecorps::TopicPartition>> ResolveAssignment(
    const messagecorps::ClientConfig& client, const std::vector<std::string>& topics,
    const std::vector<int32_t>& partitions, const StartSpec& start,
    std::chrono::milliseconds timeout);

}  // namespace mcorps
