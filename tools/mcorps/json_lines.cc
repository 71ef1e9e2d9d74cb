#include "json_lines.h"

#include <google/protobuf/message.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "json_format.h"
#include "messagecorps/error.h"

namespace mcorps {

namespace {
constexpr size_t kChunkBytes = 64 << 10;
}  // namespace

LineReader::LineReader(std::istream& in, size_t max_bytes)
    : in_(in), max_bytes_(max_bytes), chunk_(kChunkBytes + 1) {}

// istream::getline into a fixed chunk: it stops at the '\n' (so a line typed into a pipe is
// handled at once, nothing waits for a block to fill) or when the chunk is full, which sets
// failbit without eofbit and leaves the rest of the line in the stream.
LineReader::Result LineReader::Next(std::string* line) {
  line->clear();
  bool any = false;  // a byte (or the '\n') of this line was read
  bool too_long = false;
  for (;;) {
    if (in_.eof() || in_.bad()) break;
    in_.getline(chunk_.data(), static_cast<std::streamsize>(chunk_.size()));
    const auto extracted = static_cast<size_t>(in_.gcount());
    size_t stored = extracted;
    bool line_ends = true;
    if (in_.eof()) {
      // the last line, without '\n' (or nothing at all)
    } else if (in_.fail()) {
      if (extracted + 1 < chunk_.size()) break;  // the stream failed (not a full chunk): the end
      line_ends = false;                         // the chunk is full: the line goes on
      in_.clear();
    } else {
      stored = extracted - 1;  // the '\n' was extracted, not stored
    }
    any = any || extracted > 0;
    if (!too_long) {
      if (line->size() + stored > max_bytes_) {
        too_long = true;
        line->clear();
        line->shrink_to_fit();
      } else {
        line->append(chunk_.data(), stored);
      }
    }
    if (line_ends) break;
  }
  if (!any) return Result::kEnd;
  ++number_;
  return too_long ? Result::kTooLong : Result::kLine;
}

JsonLineReader::JsonLineReader(std::istream& in, std::string key_delimiter, size_t max_line_bytes)
    : lines_(in, max_line_bytes), key_delimiter_(std::move(key_delimiter)) {}

bool JsonLineReader::Next(google::protobuf::Message& message, std::optional<std::string>& key,
                          absl::Status& error) {
  for (;;) {
    switch (lines_.Next(&text_)) {
      case LineReader::Result::kEnd:
        return false;
      case LineReader::Result::kTooLong:
        key.reset();
        message.Clear();
        error = messagecorps::MakeError(
            absl::StatusCode::kResourceExhausted,
            absl::StrCat("longer than the limit of ", lines_.max_bytes(),
                         " bytes (--max-line-bytes); skipped without reading it whole"),
            messagecorps::ErrorReason::kDecodeLimit);
        return true;
      case LineReader::Result::kLine:
        break;
    }
    if (!text_.empty() && text_.back() == '\r') text_.pop_back();
    if (text_.find_first_not_of(" \t") == std::string::npos) continue;  // blank line
    std::string_view json = text_;
    key.reset();
    if (!key_delimiter_.empty()) {
      const size_t at = json.find(key_delimiter_);
      if (at == std::string_view::npos) {
        message.Clear();
        error = absl::InvalidArgumentError(
            absl::StrCat("no key delimiter '", key_delimiter_, "' (-K) in the line"));
        return true;
      }
      key = std::string(json.substr(0, at));
      json.remove_prefix(at + key_delimiter_.size());
    }
    error = ParseMessageJson(json, &message);
    return true;
  }
}

}  // namespace mcorps
