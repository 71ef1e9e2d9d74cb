// mcorps-gateway's command line, in one place: every option, its default, and the checks between
// options. main.cc only builds the parts from a GatewayOptions. When the project's shared options
// component lands, the Kafka client part (AddClientOptions / LoadClientConfig) moves to it.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gateway/access.h"
#include "gateway/client_sources.h"
#include "gateway/gateway_context.h"

namespace CLI {
class App;
}

namespace messagecorps::gateway {

struct GatewayOptions {
  ClientConfigSources client;  // --brokers, -X, -F (+ $MESSAGECORPS_CLIENT_CONFIG)
  std::string host = "0.0.0.0";
  int grpc_port = 50051;
  int http_port = 8080;
  int http_threads = 64;
  int fetch_kbytes = 512;
  std::string registry_file;
  std::vector<std::string> descriptor_sets;
  std::string resume_secret_file;
  size_t max_message_bytes = 4u << 20;
  std::chrono::milliseconds drain_timeout{10000};
  std::chrono::milliseconds idempotency_window{600000};
  size_t idempotency_max_keys = 100000;
  StreamLimits limits;
  AccessOptions access;
  std::string tls_cert, tls_key, tls_client_ca;
};

// Declares every option on `app`, writing into `options` when `app` parses.
void AddGatewayOptions(CLI::App& app, GatewayOptions& options);

// The checks between options after parsing (kInvalidArgument naming the options), and the values
// CLI11 cannot fill directly (durations).
absl::Status FinishGatewayOptions(GatewayOptions& options);

}  // namespace messagecorps::gateway
