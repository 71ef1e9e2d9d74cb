#include "progress.h"

#include <unistd.h>

#include <cstdio>

namespace mcorps {

namespace {
constexpr auto kQuietStart = std::chrono::seconds(1);     // short jobs print no progress
constexpr auto kRedraw = std::chrono::milliseconds(250);  // at most 4 redraws a second
}  // namespace

Progress::Progress(std::string what, bool enabled)
    : what_(std::move(what)), enabled_(enabled && isatty(STDERR_FILENO)) {}

Progress::~Progress() { Clear(); }

void Progress::Update(int64_t count) {
  if (!enabled_) return;
  const auto now = Clock::now();
  if (now - start_ < kQuietStart || now - last_draw_ < kRedraw) return;
  last_draw_ = now;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  std::fprintf(stderr, "\r\033[K%lld %s  %.0f msg/s", static_cast<long long>(count), what_.c_str(),
               seconds > 0 ? static_cast<double>(count) / seconds : 0.0);
  std::fflush(stderr);
  shown_ = true;
}

void Progress::Clear() {
  if (!shown_) return;
  std::fprintf(stderr, "\r\033[K");
  std::fflush(stderr);
  shown_ = false;
}

}  // namespace mcorps
