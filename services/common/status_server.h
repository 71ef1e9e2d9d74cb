// A small HTTP server for a service's /metrics (Prometheus text from messagecorps::Metrics plus
// service gauges) and /api/stats (JSON), on 127.0.0.1 by default. The display service adds its
// page and event stream to the same server.
//
// Thread-safety: callbacks run on the server's worker threads; they must be thread-safe.
#pragma once

#include <httplib.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "messagecorps/metrics.h"

namespace messagecorps::services {

class StatusServer {
 public:
  // `stats` builds the /api/stats document; `extra_metrics` appends Prometheus lines (may be null).
  StatusServer(std::shared_ptr<Metrics> metrics, std::function<nlohmann::json()> stats,
               std::function<std::string()> extra_metrics = nullptr);
  ~StatusServer();  // Stop()

  // The --metrics-port convention of the services: port < 0 means no server (nullptr); otherwise a
  // started server, or Start's error.
  static absl::StatusOr<std::unique_ptr<StatusServer>> StartIfEnabled(
      std::shared_ptr<Metrics> metrics, std::function<nlohmann::json()> stats,
      const std::string& host, int port);

  // Routes beyond /metrics and /api/stats are added here before Start.
  httplib::Server& server() { return server_; }

  // Binds host:port (port 0: any free port) and serves on a background thread. kUnavailable
  // when the address cannot be bound.
  absl::Status Start(const std::string& host, int port);
  int port() const { return port_; }
  void Stop();

 private:
  httplib::Server server_;
  std::shared_ptr<Metrics> metrics_;
  std::function<nlohmann::json()> stats_;
  std::function<std::string()> extra_metrics_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace messagecorps::services
