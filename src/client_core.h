// Internal: state every librdkafka client of ours shares with its callbacks. Its address is the
// librdkafka opaque (rd_kafka_conf_set_opaque), so log/error/statistics callbacks find the logger and
// metrics. Callbacks run on librdkafka threads: they never throw.
#pragma once

#include <librdkafka/rdkafka.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "messagecorps/client_config.h"
#include "rdkafka_handles.h"

namespace spdlog {
class logger;
}

namespace messagecorps::internal {

struct ClientCore {
  virtual ~ClientCore() = default;

  std::shared_ptr<spdlog::logger> logger;
  std::shared_ptr<Metrics> metrics;
  std::string client_kind;  // "producer" / "consumer", for log lines

  // The first fatal error reported by librdkafka (the client is unusable after it).
  std::atomic<bool> has_fatal{false};
  std::mutex fatal_mu;
  absl::Status fatal;

  absl::Status FatalStatus() {
    std::lock_guard lock(fatal_mu);
    return fatal;
  }
};

// Builds a conf from `config` + `defaults`, wiring log/error/stats callbacks to `core` (which must
// outlive the rd_kafka_t made from the conf).
absl::StatusOr<ConfHandle> BuildConf(const ClientConfig& config,
                                     const std::map<std::string, std::string>& defaults,
                                     ClientCore* core);

// Fills core->logger with config.logger or spdlog's default logger.
void InitCore(ClientCore& core, const ClientConfig& config, std::string kind);

}  // namespace messagecorps::internal
