// Who owned which partition when: "never two owners of a partition at once" (librdkafka's 0113
// rebalance stress test) checked on the assign/revoke events that consumer-group members log.
//
// An owner (a consumer-group member incarnation) owns a partition from an assign event to the next
// revoke event of that partition, or until it is gone (killed, or stopped after revoking).
// Timestamps are steady-clock nanoseconds (CLOCK_MONOTONIC: comparable between processes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace messagecorps::testing {

struct OwnershipEvent {
  enum Kind { kAssign, kRevoke, kGone };
  std::string owner;
  Kind kind = kAssign;
  int32_t partition = -1;  // kGone: every partition of the owner
  int64_t at_ns = 0;
};

// Reads a member's event file: lines "assign NS PARTITION", "revoke NS PARTITION", "stopped NS"
// (tests/robustness/router_child.cc writes them). kInvalidArgument naming the line otherwise.
absl::StatusOr<std::vector<OwnershipEvent>> ReadOwnershipLog(const std::string& path,
                                                             const std::string& owner);

struct OwnershipReport {
  uint64_t overlaps = 0;              // pairs of owners holding one partition at the same time
  std::vector<std::string> examples;  // a few of them
};

OwnershipReport CheckOwnership(std::vector<OwnershipEvent> events);

// The partitions `owner` holds at `at_ns` according to `events`.
std::vector<int32_t> OwnedAt(const std::vector<OwnershipEvent>& events, const std::string& owner,
                             int64_t at_ns);

}  // namespace messagecorps::testing
