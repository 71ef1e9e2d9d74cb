#include "messagecorps/version.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "messagecorps/consumer.h"

namespace messagecorps {
namespace {

TEST(Version, NamesTheLoadedLibrdkafka) {
  EXPECT_EQ(LibrdkafkaVersion(), std::string_view(rd_kafka_version_str()));
  EXPECT_EQ(LibrdkafkaVersionNumber(), rd_kafka_version());
  const std::string line = VersionLine();
  EXPECT_NE(line.find(std::string("librdkafka ") + rd_kafka_version_str()), std::string::npos)
      << line;
  EXPECT_NE(line.find(std::string(Version())), std::string::npos) << line;
}

TEST(Version, AtLeastComparesMajorMinorRevision) {
  const int v = rd_kafka_version();
  const int major = (v >> 24) & 0xff, minor = (v >> 16) & 0xff, revision = (v >> 8) & 0xff;
  EXPECT_TRUE(LibrdkafkaAtLeast(major, minor, revision));
  EXPECT_TRUE(LibrdkafkaAtLeast(major, minor));
  EXPECT_TRUE(LibrdkafkaAtLeast(1, 0));
  EXPECT_FALSE(LibrdkafkaAtLeast(major, minor, revision + 1));
  EXPECT_FALSE(LibrdkafkaAtLeast(major, minor + 1));
  EXPECT_FALSE(LibrdkafkaAtLeast(major + 1, 0));
}

// CI runs the suite on Debian's librdkafka and on the current one (LD_LIBRARY_PATH or the
// `current` preset) and sets MCORPS_EXPECT_LIBRDKAFKA to the version it meant to load: a run that
// silently used the other one fails here.
TEST(Version, IsTheOneThisRunExpects) {
  const char* expected = std::getenv("MCORPS_EXPECT_LIBRDKAFKA");
  if (expected == nullptr || *expected == '\0') GTEST_SKIP() << "MCORPS_EXPECT_LIBRDKAFKA not set";
  EXPECT_EQ(LibrdkafkaVersion(), std::string_view(expected));
}

// The version-dependent paths (consumer.h) follow the librdkafka loaded at run time.
TEST(Version, WorkaroundsFollowTheLoadedVersion) {
  std::cerr << "librdkafka " << LibrdkafkaVersion() << ": assignment "
            << DefaultAssignmentStrategy() << ", fetch waker " << FetchWakerNeeded()
            << ", batch poll always " << BatchPollAlwaysSafe() << "\n";
  EXPECT_EQ(DefaultAssignmentStrategy(), LibrdkafkaAtLeast(2, 10) ? "cooperative-sticky" : "range");
  EXPECT_EQ(FetchWakerNeeded(), !LibrdkafkaAtLeast(2, 3));
  EXPECT_EQ(BatchPollAlwaysSafe(), LibrdkafkaAtLeast(2, 1));
}

}  // namespace
}  // namespace messagecorps
