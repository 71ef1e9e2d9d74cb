#include "common/status_server.h"

#include "absl/strings/str_cat.h"

namespace messagecorps::services {

StatusServer::StatusServer(std::shared_ptr<Metrics> metrics, std::function<nlohmann::json()> stats,
                           std::function<std::string()> extra_metrics)
    : metrics_(std::move(metrics)),
      stats_(std::move(stats)),
      extra_metrics_(std::move(extra_metrics)) {
  server_.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    std::string text = metrics_ ? metrics_->RenderPrometheus() : std::string();
    if (extra_metrics_) text += extra_metrics_();
    res.set_content(text, "text/plain; version=0.0.4; charset=utf-8");
  });
  server_.Get("/api/stats", [this](const httplib::Request&, httplib::Response& res) {
    nlohmann::json doc = stats_ ? stats_() : nlohmann::json::object();
    res.set_header("Cache-Control", "no-store");
    res.set_content(doc.dump(), "application/json");
  });
  server_.Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
}

StatusServer::~StatusServer() { Stop(); }

absl::StatusOr<std::unique_ptr<StatusServer>> StatusServer::StartIfEnabled(
    std::shared_ptr<Metrics> metrics, std::function<nlohmann::json()> stats,
    const std::string& host, int port) {
  if (port < 0) return std::unique_ptr<StatusServer>();
  auto server = std::make_unique<StatusServer>(std::move(metrics), std::move(stats));
  if (absl::Status s = server->Start(host, port); !s.ok()) return s;
  return server;
}

absl::Status StatusServer::Start(const std::string& host, int port) {
  if (port == 0) {
    port_ = server_.bind_to_any_port(host.c_str());
    if (port_ <= 0) return absl::UnavailableError(absl::StrCat("cannot bind ", host));
  } else {
    if (!server_.bind_to_port(host.c_str(), port)) {
      return absl::UnavailableError(
          absl::StrCat("cannot bind ", host, ":", port, " (in use? try another --port)"));
    }
    port_ = port;
  }
  thread_ = std::thread([this] { server_.listen_after_bind(); });
  return absl::OkStatus();
}

void StatusServer::Stop() {
  if (thread_.joinable()) {
    server_.stop();
    thread_.join();
  }
}

}  // namespace messagecorps::services
