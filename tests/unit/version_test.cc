#include "messagecorps/version.h"

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <string>

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

}  // namespace
}  // namespace messagecorps
