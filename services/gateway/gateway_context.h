// What both front ends (gRPC and HTTP) share: the catalog, the publisher, how subscriptions are
// built, the stream registry, the metrics, and the limits. Built once by the gateway's main; every
// member outlives the servers.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include "gateway/access.h"
#include "gateway/client_certs.h"
#include "gateway/gateway_metrics.h"
#include "gateway/publisher.h"
#include "gateway/resume_token.h"
#include "gateway/stream_registry.h"
#include "gateway/subscription.h"
#include "gateway/topic_catalog.h"

namespace spdlog {
class logger;
}

namespace messagecorps::gateway {

struct StreamLimits {
  // PublishStream: results not yet written (in flight to Kafka or waiting for an earlier one)
  // before the gateway stops reading the stream.
  size_t publish_window = 1024;
  // Subscribe / SSE: bytes of records read from Kafka but not yet taken by the transport; past it
  // the stream stops fetching (its consumer's prefetch then fills and Kafka fetching stops too).
  size_t subscriber_buffer_bytes = 4u << 20;
  // A subscriber that takes nothing for this long while its buffer is full is cut off:
  // RESOURCE_EXHAUSTED with a resume token (SSE: the connection closes; resume with the last
  // event id).
  std::chrono::milliseconds slow_subscriber_timeout{30000};
  // Records per SubscribeResponse (a response is also closed at 1 MiB).
  size_t records_per_response = 256;
  // SSE comment line sent on an idle stream, so proxies and clients see it alive.
  std::chrono::milliseconds sse_keepalive{15000};
};

struct GatewayContext {
  TopicCatalog* catalog = nullptr;
  Publisher* publisher = nullptr;
  const SubscriptionContext* subscriptions = nullptr;
  StreamRegistry* streams = nullptr;
  GatewayMetrics* metrics = nullptr;
  // Authentication, permissions, quotas (every caller anonymous and unlimited when nothing is
  // configured). Never null.
  Access* access = nullptr;
  // Verifies TLS client certificates (null without --tls-client-ca).
  const ClientCertVerifier* client_certs = nullptr;
  std::shared_ptr<spdlog::logger> logger;
  StreamLimits limits;
};

}  // namespace messagecorps::gateway
