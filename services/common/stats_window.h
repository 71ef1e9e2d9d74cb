// Rates and percentiles over a sliding time window (fps, latency p50/p99, predictions/s).
//
// Thread-safety: every method may be called from any thread (one mutex).
#pragma once

#include <chrono>
#include <deque>
#include <mutex>

namespace messagecorps::services {

class StatsWindow {
 public:
  using Clock = std::chrono::steady_clock;
  explicit StatsWindow(std::chrono::milliseconds window = std::chrono::seconds(5),
                       size_t max_samples = 20000);

  // One event (a frame, a prediction) with an optional value (a latency in ms).
  void Add(double value = 0, Clock::time_point now = Clock::now());

  // Events per second over the window (over the time since the first event while that is shorter).
  double Rate(Clock::time_point now = Clock::now()) const;
  // The p-th percentile (0..100) of the values in the window; 0 when empty.
  double Percentile(double p, Clock::time_point now = Clock::now()) const;
  double Mean(Clock::time_point now = Clock::now()) const;
  size_t Count(Clock::time_point now = Clock::now()) const;

 private:
  struct Sample {
    Clock::time_point at;
    double value;
  };
  void Trim(Clock::time_point now) const;

  const std::chrono::milliseconds window_;
  const size_t max_samples_;
  mutable std::mutex mu_;
  mutable std::deque<Sample> samples_;
  Clock::time_point first_{};
  bool any_ = false;
};

}  // namespace messagecorps::services
