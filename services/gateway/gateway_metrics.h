// The gateway's own Prometheus figures, rendered after the library's (messagecorps/metrics.h):
//   mcorps_gateway_requests_total{api,method,code}   finished requests by outcome
//   mcorps_gateway_publish_seconds                   request received -> Kafka acknowledged
//   mcorps_gateway_active_streams{kind}              open publish / subscribe / sse streams
//   mcorps_gateway_records_pushed_total{api}         records written to subscribers
//   mcorps_gateway_kafka_reachable                   1 while metadata requests are answered
//
// Thread-safety: every method may be called from any thread (counters are atomics; the labelled
// request counts take a mutex, once per request).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "absl/status/status.h"

namespace messagecorps::gateway {

enum class StreamKind { kPublish, kSubscribe, kSse };
enum class Api { kGrpc, kHttp };

class GatewayMetrics {
 public:
  static constexpr std::array<double, 12> kPublishSecondsBuckets = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  void CountRequest(Api api, std::string_view method, absl::StatusCode code);
  void ObservePublishSeconds(double seconds);
  void StreamOpened(StreamKind kind) { Stream(kind).fetch_add(1, std::memory_order_relaxed); }
  void StreamClosed(StreamKind kind) { Stream(kind).fetch_sub(1, std::memory_order_relaxed); }
  int64_t ActiveStreams(StreamKind kind) const {
    return streams_[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
  }
  void CountPushed(Api api, uint64_t n) {
    pushed_[static_cast<size_t>(api)].fetch_add(n, std::memory_order_relaxed);
  }
  void SetKafkaReachable(bool up) { reachable_.store(up, std::memory_order_relaxed); }

  // The requests counted for (api, method, code); for tests.
  uint64_t Requests(Api api, std::string_view method, absl::StatusCode code) const;

  std::string RenderPrometheus() const;

 private:
  std::atomic<int64_t>& Stream(StreamKind kind) { return streams_[static_cast<size_t>(kind)]; }

  mutable std::mutex mu_;
  std::map<std::tuple<Api, std::string, absl::StatusCode>, uint64_t, std::less<>> requests_;
  std::array<std::atomic<uint64_t>, kPublishSecondsBuckets.size() + 1> publish_buckets_{};
  std::atomic<double> publish_seconds_sum_{0};
  std::array<std::atomic<int64_t>, 3> streams_{};
  std::array<std::atomic<uint64_t>, 2> pushed_{};
  std::atomic<bool> reachable_{false};
};

}  // namespace messagecorps::gateway
