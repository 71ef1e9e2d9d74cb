// mcorps: the live progress line ("12000 records  4000/s") on stderr — only when stderr is a
// terminal and the job has run for more than a second, so pipes and logs stay clean.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace mcorps {

class Progress {
 public:
  // `what` names the unit, e.g. "sent" or "scanned". `enabled` is ANDed with "stderr is a
  // terminal" (e.g. consume shows progress only when its records do not go to that terminal).
  explicit Progress(std::string what, bool enabled = true);
  ~Progress();  // erases the line
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Sets the count; redraws at most a few times a second.
  void Update(int64_t count);
  // Erases the line (before other output to stderr).
  void Clear();

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_ = Clock::now();
  Clock::time_point last_draw_{};
};

}  // namespace mcorps
