// mcorps produce's line reading (tools/mcorps/json_lines.h): bounded lines across read chunks, an
// overlong line skipped without being held, line numbers, CRLF, blank lines, the key delimiter.
#include "json_lines.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "messagecorps/error.h"
#include "protobuf/data/ImageData.pb.h"

namespace mcorps {
namespace {

using Result = LineReader::Result;

struct Read {
  Result result;
  std::string line;
  int64_t number;
  bool operator==(const Read&) const = default;
};

std::vector<Read> ReadAll(const std::string& text, size_t max) {
  std::istringstream in(text);
  LineReader reader(in, max);
  std::vector<Read> out;
  std::string line;
  for (Result r; (r = reader.Next(&line)) != Result::kEnd;) {
    out.push_back({r, line, reader.number()});
    // An overlong line is dropped, not kept (it was never held beyond the limit).
    if (r == Result::kTooLong) {
      EXPECT_EQ(line.capacity(), std::string().capacity());
    }
  }
  return out;
}

TEST(LineReader, SplitsOnNewlinesAndKeepsALastLineWithoutOne) {
  EXPECT_EQ(ReadAll("a\n\nbc\nd", 10), (std::vector<Read>{{Result::kLine, "a", 1},
                                                          {Result::kLine, "", 2},
                                                          {Result::kLine, "bc", 3},
                                                          {Result::kLine, "d", 4}}));
  EXPECT_TRUE(ReadAll("", 10).empty());
  EXPECT_EQ(ReadAll("\n", 10), (std::vector<Read>{{Result::kLine, "", 1}}));
}

TEST(LineReader, TheLimitIsInclusiveAndAnOverlongLineIsSkippedToItsEnd) {
  EXPECT_EQ(ReadAll("12345\n123456\nok", 5),
            (std::vector<Read>{
                {Result::kLine, "12345", 1}, {Result::kTooLong, "", 2}, {Result::kLine, "ok", 3}}));
}

TEST(LineReader, LinesAcrossReadChunks) {
  const size_t chunk = 64 << 10;
  for (size_t size : {chunk - 1, chunk, chunk + 1, 3 * chunk + 7}) {
    const std::string big(size, 'x');
    auto fits = ReadAll(big + "\nnext\n", size);
    ASSERT_EQ(fits.size(), 2u) << size;
    EXPECT_EQ(fits[0].result, Result::kLine) << size;
    EXPECT_EQ(fits[0].line.size(), size);
    EXPECT_EQ(fits[1], (Read{Result::kLine, "next", 2}));

    auto over = ReadAll(big + "\nnext", size - 1);
    ASSERT_EQ(over.size(), 2u) << size;
    EXPECT_EQ(over[0].result, Result::kTooLong) << size;
    EXPECT_EQ(over[1], (Read{Result::kLine, "next", 2}));
  }
}

TEST(JsonLineReader, MessagesKeysAndEveryBadLineWithItsOwnError) {
  std::istringstream in(
      "k1:{\"frame\": 1}\r\n"
      "   \n"
      "no delimiter here\n"
      "k3:{\"frame\": \"x\"}\n"
      "k4:{\"source\": \"" +
      std::string(100, 's') +
      "\"}\n"
      "k5:{\"frame\": 5}");
  JsonLineReader reader(in, ":", 60);
  protobuf::data::Image image;
  std::optional<std::string> key;
  absl::Status error;

  ASSERT_TRUE(reader.Next(image, key, error));
  EXPECT_TRUE(error.ok()) << error;
  EXPECT_EQ(key, "k1");
  EXPECT_EQ(image.frame(), 1);
  EXPECT_EQ(reader.line(), 1);

  ASSERT_TRUE(reader.Next(image, key, error));  // the blank line 2 is skipped
  EXPECT_EQ(reader.line(), 3);
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(error.message(), "no key delimiter ':' (-K) in the line");

  ASSERT_TRUE(reader.Next(image, key, error));
  EXPECT_EQ(reader.line(), 4);
  EXPECT_EQ(error.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(error.message().find("not a protobuf.data.Image"), absl::string_view::npos) << error;

  ASSERT_TRUE(reader.Next(image, key, error));
  EXPECT_EQ(reader.line(), 5);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(messagecorps::GetErrorReason(error), messagecorps::ErrorReason::kDecodeLimit);
  EXPECT_EQ(error.message(),
            "longer than the limit of 60 bytes (--max-line-bytes); skipped without reading it "
            "whole");
  EXPECT_FALSE(key.has_value());

  ASSERT_TRUE(reader.Next(image, key, error));
  EXPECT_TRUE(error.ok()) << error;
  EXPECT_EQ(key, "k5");
  EXPECT_EQ(image.frame(), 5);
  EXPECT_EQ(reader.line(), 6);

  EXPECT_FALSE(reader.Next(image, key, error));
}

TEST(JsonLineReader, AFailedStreamIsTheEnd) {
  std::ifstream absent("/nonexistent/mcorps-json-lines-test");
  JsonLineReader reader(absent, "");
  protobuf::data::Image image;
  std::optional<std::string> key;
  absl::Status error;
  EXPECT_FALSE(reader.Next(image, key, error));
}

}  // namespace
}  // namespace mcorps
