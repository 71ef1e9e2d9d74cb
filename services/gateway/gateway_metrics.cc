#include "gateway/gateway_metrics.h"

#include <prometheus/text_serializer.h>

#include "absl/status/status.h"

namespace messagecorps::gateway {
namespace {

const char* ApiName(Api api) { return api == Api::kGrpc ? "grpc" : "http"; }

const char* KindName(StreamKind kind) {
  switch (kind) {
    case StreamKind::kPublish:
      return "publish";
    case StreamKind::kSubscribe:
      return "subscribe";
    case StreamKind::kSse:
      return "sse";
  }
  return "unknown";
}

prometheus::Labels RequestLabels(Api api, std::string_view method, absl::StatusCode code) {
  return {{"api", ApiName(api)},
          {"method", std::string(method)},
          {"code", absl::StatusCodeToString(code)}};
}

}  // namespace

GatewayMetrics::GatewayMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      requests_(prometheus::BuildCounter()
                    .Name("mcorps_gateway_requests_total")
                    .Help("Finished gateway requests by outcome.")
                    .Register(*registry_)),
      publish_seconds_(
          prometheus::BuildHistogram()
              .Name("mcorps_gateway_publish_seconds")
              .Help("Publish request received to Kafka acknowledgement.")
              .Register(*registry_)
              .Add({}, prometheus::Histogram::BucketBoundaries(kPublishSecondsBuckets.begin(),
                                                               kPublishSecondsBuckets.end()))),
      reachable_(prometheus::BuildGauge()
                     .Name("mcorps_gateway_kafka_reachable")
                     .Help("1 while Kafka answers metadata requests.")
                     .Register(*registry_)
                     .Add({})) {
  auto& streams = prometheus::BuildGauge()
                      .Name("mcorps_gateway_active_streams")
                      .Help("Open streams by kind.")
                      .Register(*registry_);
  for (StreamKind kind : {StreamKind::kPublish, StreamKind::kSubscribe, StreamKind::kSse}) {
    streams_[static_cast<size_t>(kind)] = &streams.Add({{"kind", KindName(kind)}});
  }
  auto& pushed = prometheus::BuildCounter()
                     .Name("mcorps_gateway_records_pushed_total")
                     .Help("Records written to subscribers.")
                     .Register(*registry_);
  for (Api api : {Api::kGrpc, Api::kHttp}) {
    pushed_[static_cast<size_t>(api)] = &pushed.Add({{"api", ApiName(api)}});
  }
}

prometheus::Counter& GatewayMetrics::RequestSeries(Api api, std::string_view method,
                                                   absl::StatusCode code) {
  return requests_.Add(RequestLabels(api, method, code));
}

void GatewayMetrics::CountRequest(Api api, std::string_view method, absl::StatusCode code) {
  RequestSeries(api, method, code).Increment();
}

void RequestCounter::Count(absl::StatusCode code) {
  const auto i = static_cast<size_t>(code);
  if (i >= kCodes) {
    metrics_.CountRequest(api_, method_, code);
    return;
  }
  prometheus::Counter* series = series_[i].load(std::memory_order_acquire);
  if (series == nullptr) {
    // Family::Add returns the same series to racing first users; it lives as long as the registry.
    series = &metrics_.RequestSeries(api_, method_, code);
    series_[i].store(series, std::memory_order_release);
  }
  series->Increment();
}

uint64_t GatewayMetrics::Requests(Api api, std::string_view method, absl::StatusCode code) const {
  const prometheus::Labels labels = RequestLabels(api, method, code);
  if (!requests_.Has(labels)) return 0;
  return static_cast<uint64_t>(requests_.Add(labels).Value());
}

void GatewayMetrics::ObservePublishSeconds(double seconds) {
  publish_seconds_.Observe(seconds >= 0 ? seconds : 0);
}

std::string GatewayMetrics::RenderPrometheus() const {
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace messagecorps::gateway
