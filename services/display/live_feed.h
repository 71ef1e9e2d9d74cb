// What the display shows: frames and predictions turned into server-sent events for the page,
// the joins by trace id, and the live figures (fps, capture -> display latency, predictions/s,
// consumer lag) for /api/stats and /metrics.
//
// Each browser connection is a Subscriber with a small queue; a slow browser loses its oldest
// frame events (counted in `dropped_for_slow_clients`), never the service's pace.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

#include "common/stats_window.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace messagecorps::services {

class Subscriber {
 public:
  explicit Subscriber(size_t max_queue) : max_queue_(max_queue) {}
  // Waits up to `timeout` for the next event (an SSE block). False on timeout or when closed.
  bool Next(std::string* event, std::chrono::milliseconds timeout);
  void Push(std::string event, bool droppable);
  void Close();
  bool closed() const;
  uint64_t dropped() const { return dropped_.load(); }

 private:
  const size_t max_queue_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, bool>> queue_;  // event, droppable
  bool closed_ = false;
  std::atomic<uint64_t> dropped_{0};
};

class LiveFeed {
 public:
  using WallClock = std::function<double()>;  // Unix seconds
  explicit LiveFeed(size_t max_queue_per_client = 6, WallClock now = nullptr);

  // A frame from VideoStream (JPEG bytes ready, or an error text when it could not be shown).
  void OnFrame(const protobuf::data::Image& image, std::string_view trace_id, std::string jpeg);
  void OnInvalidFrame(std::string_view why);
  void OnPrediction(const protobuf::predictions::Prediction& prediction, std::string_view trace_id);
  // Consumer lag per topic (sum over partitions; -1 unknown).
  void SetLag(std::map<std::string, int64_t> lag_by_topic);
  void SetAssigned(int partitions) { assigned_.store(partitions); }

  std::shared_ptr<Subscriber> Subscribe();
  void Unsubscribe(const std::shared_ptr<Subscriber>& subscriber);
  // Closes every subscriber (shutdown).
  void CloseAll();

  nlohmann::json Stats() const;
  std::string PrometheusText() const;  // display gauges, appended to /metrics
  std::optional<std::string> LatestJpeg() const;

 private:
  void Broadcast(const std::string& event, bool droppable);
  double Now() const;

  const size_t max_queue_;
  WallClock now_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();

  mutable std::mutex mu_;
  std::set<std::shared_ptr<Subscriber>> subscribers_;
  std::optional<std::string> latest_jpeg_;
  nlohmann::json last_frame_ = nlohmann::json::object();
  nlohmann::json last_prediction_ = nlohmann::json::object();
  std::map<std::string, int64_t> lag_;
  // capture_time of recent frames by trace id, to time predictions (bounded).
  std::unordered_map<std::string, double> capture_by_trace_;
  std::deque<std::string> trace_order_;
  uint64_t dropped_for_gone_clients_ = 0;

  StatsWindow frames_{std::chrono::seconds(5)};
  StatsWindow latency_ms_{std::chrono::seconds(10)};
  StatsWindow latency_ms_run_{std::chrono::hours(24), 200000};  // whole run, for benchmarks
  StatsWindow predictions_{std::chrono::seconds(5)};
  StatsWindow prediction_latency_ms_{std::chrono::seconds(10)};
  std::atomic<uint64_t> frames_total_{0}, invalid_frames_{0}, predictions_total_{0},
      predictions_matched_{0}, frame_bytes_{0};
  std::atomic<int> assigned_{0};
};

// Standard base64 (RFC 4648) of `bytes`.
std::string Base64(std::string_view bytes);

}  // namespace messagecorps::services
