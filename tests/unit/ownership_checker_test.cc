// "Never two owners of a partition at once" (tests/support/ownership.h) on in-memory event logs: a
// clean hand-over passes, an assignment before the previous owner revoked or died is an overlap,
// and a killed owner's partitions are free from its death on.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "support/ownership.h"

namespace messagecorps::testing {
namespace {

using E = OwnershipEvent;

TEST(OwnershipChecker, AHandOverAfterTheRevokeIsNoOverlap) {
  std::vector<E> events = {{"a", E::kAssign, 0, 10}, {"a", E::kAssign, 1, 10},
                           {"a", E::kRevoke, 0, 20}, {"b", E::kAssign, 0, 21},
                           {"a", E::kRevoke, 1, 30}, {"a", E::kAssign, 1, 31}};
  OwnershipReport r = CheckOwnership(events);
  EXPECT_EQ(r.overlaps, 0u);
  EXPECT_EQ(OwnedAt(events, "a", 25), std::vector<int32_t>({1}));
  EXPECT_EQ(OwnedAt(events, "b", 25), std::vector<int32_t>({0}));
}

TEST(OwnershipChecker, DetectsAnAssignmentBeforeThePreviousOwnerLetGo) {
  std::vector<E> events = {
      {"a", E::kAssign, 3, 10}, {"b", E::kAssign, 3, 15}, {"a", E::kRevoke, 3, 20}};
  OwnershipReport r = CheckOwnership(events);
  EXPECT_EQ(r.overlaps, 1u);
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_NE(r.examples[0].find("partition 3: b assigned while a"), std::string::npos)
      << r.examples[0];
}

TEST(OwnershipChecker, AKilledOwnerReleasesEverythingWhenItDies) {
  std::vector<E> events = {{"a", E::kAssign, 0, 10},
                           {"a", E::kAssign, 1, 10},
                           {"a", E::kGone, -1, 50},
                           {"b", E::kAssign, 0, 60},
                           {"c", E::kAssign, 1, 40}};  // c took partition 1 before a died
  OwnershipReport r = CheckOwnership(events);
  EXPECT_EQ(r.overlaps, 1u);
  EXPECT_TRUE(OwnedAt(events, "a", 55).empty());
}

TEST(OwnershipChecker, ReadsTheLogRouterChildWrites) {
  const std::string path = ::testing::TempDir() + "/ownership_log_test.events";
  {
    std::ofstream out(path);
    out << "assign 100 2\nassign 100 4\nrevoke 200 2\nstopped 300\n";
  }
  auto events = ReadOwnershipLog(path, "r1");
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 4u);
  EXPECT_EQ((*events)[3].kind, E::kGone);
  EXPECT_EQ(OwnedAt(*events, "r1", 250), std::vector<int32_t>({4}));
  {
    std::ofstream out(path);
    out << "assign 100\n";
  }
  EXPECT_EQ(ReadOwnershipLog(path, "r1").status().code(), absl::StatusCode::kInvalidArgument);
  std::remove(path.c_str());
}

}  // namespace
}  // namespace messagecorps::testing
