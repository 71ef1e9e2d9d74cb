// The client properties file (`mcorps -F`, kcat style): ReadPropertiesFile and the text parser it
// uses, ParsePropertiesText. Every malformed line has its own error naming the file and line.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "messagecorps/client_config.h"
#include "messagecorps/error.h"

namespace messagecorps {
namespace {

using Map = std::map<std::string, std::string>;

TEST(PropertiesText, KeyValueCommentsBlankLinesAndTrimming) {
  auto parsed = ParsePropertiesText(
      "# a comment\n"
      "\n"
      "bootstrap.servers = host:9092\r\n"
      "  \t# indented comment\n"
      "sasl.password=a=b#c \n"
      "client.id=x\n"
      "client.id=y");  // a later line wins; the last line needs no '\n'
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(
      *parsed,
      (Map{{"bootstrap.servers", "host:9092"}, {"sasl.password", "a=b#c"}, {"client.id", "y"}}));
  auto empty_value = ParsePropertiesText("debug=\n");
  ASSERT_TRUE(empty_value.ok());
  EXPECT_EQ(*empty_value, (Map{{"debug", ""}}));
  EXPECT_TRUE(ParsePropertiesText("")->empty());
}

TEST(PropertiesText, MalformedLinesNameTheSourceAndLine) {
  struct Case {
    std::string text, message;
  } cases[] = {
      {"a=1\nno equals sign\n", "f.conf:2: property 'no equals sign' is not of the form key=value"},
      {"a=1\n\n = value\n", "f.conf:3: property '= value' has an empty key"},
      {std::string("a=1\nb=x\0y\n", 10), "f.conf:2: contains a NUL byte"},
  };
  for (const Case& c : cases) {
    auto parsed = ParsePropertiesText(c.text, "f.conf");
    ASSERT_FALSE(parsed.ok()) << c.message;
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(GetErrorReason(parsed.status()), ErrorReason::kInvalidConfig);
    EXPECT_EQ(parsed.status().message(), c.message);
  }
}

class PropertiesFile : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("mcorps_properties_test_" + std::to_string(::getpid()) + ".conf");
  }
  void TearDown() override { std::filesystem::remove(path_); }
  void Write(const std::string& text) {
    std::ofstream out(path_, std::ios::binary);
    out << text;
  }
  std::filesystem::path path_;
};

TEST_F(PropertiesFile, ReadsWhatTheTextParserReads) {
  Write("acks=all\r\nlinger.ms = 5\n# x\n");
  auto parsed = ReadPropertiesFile(path_.string());
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, (Map{{"acks", "all"}, {"linger.ms", "5"}}));
}

TEST_F(PropertiesFile, ErrorsNameThePath) {
  Write("acks=all\nbroken\n");
  auto parsed = ReadPropertiesFile(path_.string());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().message(),
            path_.string() + ":2: property 'broken' is not of the form key=value");
}

TEST_F(PropertiesFile, MissingFileIsNotFound) {
  EXPECT_EQ(ReadPropertiesFile(path_.string() + ".absent").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(PropertiesFile, ALargerFileThanTheLimitIsRefusedUnread) {
  Write(std::string(kMaxPropertiesFileBytes, '#'));  // exactly the limit: one long comment line
  EXPECT_TRUE(ReadPropertiesFile(path_.string()).ok());
  Write(std::string(kMaxPropertiesFileBytes + 1, '#'));
  auto parsed = ReadPropertiesFile(path_.string());
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetErrorReason(parsed.status()), ErrorReason::kInvalidConfig);
  EXPECT_NE(parsed.status().message().find("is larger than 1048576 bytes"), absl::string_view::npos)
      << parsed.status();
}

TEST_F(PropertiesFile, ADeviceThatNeverEndsIsRefusedToo) {
  // /dev/zero given by mistake: read up to the limit, not for ever.
  auto parsed = ReadPropertiesFile("/dev/zero");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace messagecorps
