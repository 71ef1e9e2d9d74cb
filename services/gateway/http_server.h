// The gateway's HTTP front end (cpp-httplib):
//   POST /v1/topics/{topic}/records   publish: a JSON message (protobuf JSON mapping or the
//                                     original's {"protobuf": "<hex>"}), a JSON array of them (all
//                                     validated before any is produced), or a binary body
//                                     (Content-Type: application/x-protobuf; encoding=seed|raw|
//                                     confluent, or ?encoding=; detected when absent)
//   GET  /v1/topics/{topic}/records   subscribe: Server-Sent Events, one `record` event per
//                                     record, its `id` the resume token (Last-Event-ID resumes)
//   GET  /v1/topics                   topics with their bound types
//   GET  /v1/topics/{topic}           one topic with partitions and watermarks
//   GET  /healthz, /readyz            alive; ready (503 while Kafka is unreachable or draining)
//   GET  /metrics                     Prometheus text (library counters + gateway figures)
//   GET  /openapi.json                OpenAPI 3.0 description of all of it
// Errors are JSON: {"error": {"code": 400, "status": "INVALID_ARGUMENT", "message": "...",
// "field": "frame"}}, the status from status_mapping.h (413 for a body over the limit).
//
// Threads: a fixed pool of `threads` workers serves connections; an SSE stream holds one worker
// for its lifetime, so `threads` bounds concurrent SSE streams plus in-progress requests.
//
// Thread-safety: Start and Stop are called by the owner's thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "gateway/gateway_context.h"

namespace messagecorps {
class Metrics;
}

namespace messagecorps::gateway {

struct HttpServerOptions {
  std::string host = "0.0.0.0";
  int port = 0;  // 0: any free port (see port())
  size_t max_body_bytes = 4u << 20;
  int threads = 64;
  std::chrono::seconds keep_alive{5};
  // HTTPS: PEM files (plain HTTP when empty). With a client CA, client certificates are requested
  // and verified against it; the result is checked per request (GatewayContext::client_certs).
  std::string tls_cert_file, tls_key_file, tls_client_ca_file;
};

class HttpServer {
 public:
  // `library_metrics` is rendered first on /metrics (may be null).
  HttpServer(GatewayContext context, std::shared_ptr<Metrics> library_metrics);
  ~HttpServer();  // Stop()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and serves on a background thread. kUnavailable when the address cannot be bound.
  absl::Status Start(const HttpServerOptions& options);
  int port() const;

  // Stops accepting connections and waits for running requests (SSE streams must have been ended
  // first, StreamRegistry::Drain).
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace messagecorps::gateway
