#include "common/stats_window.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace messagecorps::services {

StatsWindow::StatsWindow(std::chrono::milliseconds window, size_t max_samples)
    : window_(window), max_samples_(max_samples) {}

void StatsWindow::Trim(Clock::time_point now) const {
  while (!samples_.empty() &&
         (now - samples_.front().at > window_ || samples_.size() > max_samples_)) {
    samples_.pop_front();
  }
}

void StatsWindow::Add(double value, Clock::time_point now) {
  std::lock_guard lock(mu_);
  if (!any_) {
    first_ = now;
    any_ = true;
  }
  samples_.push_back({now, value});
  Trim(now);
}

double StatsWindow::Rate(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  Trim(now);
  if (samples_.empty()) return 0;
  double span = std::chrono::duration<double>(window_).count();
  double since_first = std::chrono::duration<double>(now - first_).count();
  span = std::max(std::min(span, since_first), 0.5);
  return static_cast<double>(samples_.size()) / span;
}

double StatsWindow::Percentile(double p, Clock::time_point now) const {
  std::vector<double> values;
  {
    std::lock_guard lock(mu_);
    Trim(now);
    values.reserve(samples_.size());
    for (const auto& s : samples_) values.push_back(s.value);
  }
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest-rank percentile.
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size())));
  rank = std::clamp<size_t>(rank, 1, values.size());
  return values[rank - 1];
}

double StatsWindow::Mean(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  Trim(now);
  if (samples_.empty()) return 0;
  double sum = 0;
  for (const auto& s : samples_) sum += s.value;
  return sum / static_cast<double>(samples_.size());
}

size_t StatsWindow::Count(Clock::time_point now) const {
  std::lock_guard lock(mu_);
  Trim(now);
  return samples_.size();
}

}  // namespace messagecorps::services
