// mcorps produce's input: one message per line in the protobuf JSON mapping, optionally preceded by
// a key and a delimiter (kcat's -K). Blank lines are skipped; a trailing '\r' is dropped.
//
// Bounded: a line longer than max_line_bytes (the key and delimiter included, the '\n' not) is
// reported as kResourceExhausted (reason kDecodeLimit) and skipped to its end without being held in
// memory, so a file without newlines or a stray binary file costs a bounded buffer, not the file.
// Every malformed line has its own outcome (error set, reading goes on): no key delimiter,
// JSON that protobuf refuses (the error text is protobuf's, naming the field), an overlong line.
//
// Not thread-safe: one reader per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace google::protobuf {
class Message;
}

namespace mcorps {

// 16 MiB: a record at Kafka's default size limit (~1 MiB), as JSON with its bytes in base64 and its
// numbers as text, fits many times over; a line beyond it is almost certainly not one message.
inline constexpr size_t kDefaultMaxLineBytes = size_t{16} << 20;

// Lines of at most `max_bytes` from a stream, read in chunks of 64 KiB.
class LineReader {
 public:
  LineReader(std::istream& in, size_t max_bytes);

  enum class Result { kLine, kTooLong, kEnd };
  // kLine: *line holds the next line (without '\n'). kTooLong: the next line was longer than
  // max_bytes; it has been consumed, *line is empty. kEnd: no more input.
  Result Next(std::string* line);
  // The number of the line Next returned last (1-based).
  int64_t number() const { return number_; }
  size_t max_bytes() const { return max_bytes_; }

 private:
  std::istream& in_;
  size_t max_bytes_;
  std::vector<char> chunk_;
  int64_t number_ = 0;
};

class JsonLineReader {
 public:
  // `key_delimiter` empty: lines are JSON only.
  JsonLineReader(std::istream& in, std::string key_delimiter,
                 size_t max_line_bytes = kDefaultMaxLineBytes);

  // Reads the next non-blank line into `message` (cleared first) and `key` (set only with a key
  // delimiter). false at the end of the input. A bad line returns true with `error` set
  // (kInvalidArgument: no delimiter, malformed JSON; kResourceExhausted: over max_line_bytes).
  bool Next(google::protobuf::Message& message, std::optional<std::string>& key,
            absl::Status& error);
  // The number of the line Next read last.
  int64_t line() const { return lines_.number(); }

 private:
  LineReader lines_;
  std::string key_delimiter_;
  std::string text_;
};

}  // namespace mcorps
