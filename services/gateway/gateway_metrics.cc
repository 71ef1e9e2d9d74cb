#include "gateway/gateway_metrics.h"

#include "absl/strings/str_cat.h"

namespace messagecorps::gateway {
namespace {

const char* ApiName(Api api) { return api == Api::kGrpc ? "grpc" : "http"; }

const char* KindName(size_t kind) {
  switch (static_cast<StreamKind>(kind)) {
    case StreamKind::kPublish:
      return "publish";
    case StreamKind::kSubscribe:
      return "subscribe";
    case StreamKind::kSse:
      return "sse";
  }
  return "unknown";
}

}  // namespace

void GatewayMetrics::CountRequest(Api api, std::string_view method, absl::StatusCode code) {
  std::lock_guard lock(mu_);
  auto key = std::make_tuple(api, std::string(method), code);
  ++requests_[std::move(key)];
}

uint64_t GatewayMetrics::Requests(Api api, std::string_view method, absl::StatusCode code) const {
  std::lock_guard lock(mu_);
  auto it = requests_.find(std::make_tuple(api, std::string(method), code));
  return it == requests_.end() ? 0 : it->second;
}

void GatewayMetrics::ObservePublishSeconds(double seconds) {
  if (!(seconds >= 0)) seconds = 0;
  size_t i = 0;
  while (i < kPublishSecondsBuckets.size() && seconds > kPublishSecondsBuckets[i]) ++i;
  publish_buckets_[i].fetch_add(1, std::memory_order_relaxed);
  double sum = publish_seconds_sum_.load(std::memory_order_relaxed);
  while (
      !publish_seconds_sum_.compare_exchange_weak(sum, sum + seconds, std::memory_order_relaxed)) {
  }
}

std::string GatewayMetrics::RenderPrometheus() const {
  std::string out;
  absl::StrAppend(&out,
                  "# HELP mcorps_gateway_requests_total Finished gateway requests by outcome.\n"
                  "# TYPE mcorps_gateway_requests_total counter\n");
  {
    std::lock_guard lock(mu_);
    for (const auto& [key, count] : requests_) {
      const auto& [api, method, code] = key;
      absl::StrAppend(&out, "mcorps_gateway_requests_total{api=\"", ApiName(api), "\",method=\"",
                      method, "\",code=\"", absl::StatusCodeToString(code), "\"} ", count, "\n");
    }
  }
  absl::StrAppend(&out,
                  "# HELP mcorps_gateway_publish_seconds Publish request received to Kafka "
                  "acknowledgement.\n# TYPE mcorps_gateway_publish_seconds histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < publish_buckets_.size(); ++i) {
    cumulative += publish_buckets_[i].load(std::memory_order_relaxed);
    const std::string le =
        i < kPublishSecondsBuckets.size() ? absl::StrCat(kPublishSecondsBuckets[i]) : "+Inf";
    absl::StrAppend(&out, "mcorps_gateway_publish_seconds_bucket{le=\"", le, "\"} ", cumulative,
                    "\n");
  }
  absl::StrAppend(&out, "mcorps_gateway_publish_seconds_sum ",
                  publish_seconds_sum_.load(std::memory_order_relaxed), "\n",
                  "mcorps_gateway_publish_seconds_count ", cumulative, "\n");
  absl::StrAppend(&out,
                  "# HELP mcorps_gateway_active_streams Open streams by kind.\n"
                  "# TYPE mcorps_gateway_active_streams gauge\n");
  for (size_t k = 0; k < streams_.size(); ++k) {
    absl::StrAppend(&out, "mcorps_gateway_active_streams{kind=\"", KindName(k), "\"} ",
                    streams_[k].load(std::memory_order_relaxed), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP mcorps_gateway_records_pushed_total Records written to subscribers.\n"
                  "# TYPE mcorps_gateway_records_pushed_total counter\n");
  for (size_t a = 0; a < pushed_.size(); ++a) {
    absl::StrAppend(&out, "mcorps_gateway_records_pushed_total{api=\"",
                    ApiName(static_cast<Api>(a)), "\"} ",
                    pushed_[a].load(std::memory_order_relaxed), "\n");
  }
  absl::StrAppend(&out,
                  "# HELP mcorps_gateway_kafka_reachable 1 while Kafka answers metadata requests.\n"
                  "# TYPE mcorps_gateway_kafka_reachable gauge\n"
                  "mcorps_gateway_kafka_reachable ",
                  reachable_.load(std::memory_order_relaxed) ? 1 : 0, "\n");
  return out;
}

}  // namespace messagecorps::gateway
