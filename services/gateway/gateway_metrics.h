// The gateway's own Prometheus figures, rendered after the library's (messagecorps/metrics.h) by
// prometheus-cpp's registry and text serializer:
//   mcorps_gateway_requests_total{api,code,method}   finished requests by outcome
//   mcorps_gateway_publish_seconds                   request received -> Kafka acknowledged
//   mcorps_gateway_active_streams{kind}              open publish / subscribe / sse streams
//   mcorps_gateway_records_pushed_total{api}         records written to subscribers
//   mcorps_gateway_kafka_reachable                   1 while metadata requests are answered
//
// Thread-safety: every method may be called from any thread (prometheus-cpp's counters and gauges
// are atomics; CountRequest looks its series up under the family's mutex, once per request, while a
// RequestCounter looks each outcome's series up once and then only increments).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"

namespace messagecorps::gateway {

enum class StreamKind { kPublish, kSubscribe, kSse };
enum class Api { kGrpc, kHttp };

class GatewayMetrics;

// mcorps_gateway_requests_total of one (api, method) with each outcome's series looked up once:
// for counts per message of a stream, where Family::Add (labels hashed and compared under the
// family's mutex) on every message would be paid hundreds of thousands of times a second.
class RequestCounter {
 public:
  RequestCounter(GatewayMetrics& metrics, Api api, std::string method)
      : metrics_(metrics), api_(api), method_(std::move(method)) {}
  RequestCounter(const RequestCounter&) = delete;
  RequestCounter& operator=(const RequestCounter&) = delete;

  void Count(absl::StatusCode code);

 private:
  static constexpr size_t kCodes = 17;  // absl::StatusCode 0..16
  GatewayMetrics& metrics_;
  const Api api_;
  const std::string method_;
  // Series are created on first use only, so that /metrics lists the outcomes that happened.
  std::array<std::atomic<prometheus::Counter*>, kCodes> series_{};
};

class GatewayMetrics {
 public:
  static constexpr std::array<double, 12> kPublishSecondsBuckets = {
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5};

  GatewayMetrics();
  GatewayMetrics(const GatewayMetrics&) = delete;
  GatewayMetrics& operator=(const GatewayMetrics&) = delete;

  void CountRequest(Api api, std::string_view method, absl::StatusCode code);
  // PublishStream's count per message (method "PublishStream.message"), on the hot path.
  RequestCounter& stream_messages() { return stream_messages_; }
  void ObservePublishSeconds(double seconds);
  void StreamOpened(StreamKind kind) { Stream(kind).Increment(); }
  void StreamClosed(StreamKind kind) { Stream(kind).Decrement(); }
  int64_t ActiveStreams(StreamKind kind) const {
    return static_cast<int64_t>(streams_[static_cast<size_t>(kind)]->Value());
  }
  void CountPushed(Api api, uint64_t n) {
    pushed_[static_cast<size_t>(api)]->Increment(static_cast<double>(n));
  }
  void SetKafkaReachable(bool up) { reachable_.Set(up ? 1 : 0); }

  // The requests counted for (api, method, code); for tests.
  uint64_t Requests(Api api, std::string_view method, absl::StatusCode code) const;

  std::string RenderPrometheus() const;

 private:
  friend class RequestCounter;
  prometheus::Counter& RequestSeries(Api api, std::string_view method, absl::StatusCode code);
  prometheus::Gauge& Stream(StreamKind kind) { return *streams_[static_cast<size_t>(kind)]; }

  // Declared first: the families and series below live in it.
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Histogram& publish_seconds_;
  std::array<prometheus::Gauge*, 3> streams_{};
  std::array<prometheus::Counter*, 2> pushed_{};
  prometheus::Gauge& reachable_;
  RequestCounter stream_messages_{*this, Api::kGrpc, "PublishStream.message"};
};

}  // namespace messagecorps::gateway
