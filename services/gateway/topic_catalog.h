// The topics the gateway serves: each topic's bound type (from the TypeRegistry) joined with what
// Kafka says about it (exists, partitions), and whether Kafka is reachable at all.
//
// A background thread asks the brokers for metadata every `refresh_interval`; the answer (or its
// absence) is the gateway's readiness: gRPC health and /readyz follow `reachable()`. A publish or
// subscribe naming a topic the last answer did not have triggers one immediate refresh (at most one
// per `min_forced_refresh`), so a topic created a moment ago is found.
//
// Thread-safety: every method may be called from any thread. Ownership: owns the AdminClient it is
// given; shares the registry (read-only after start-up).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/admin.h"
#include "messagecorps/type_registry.h"

namespace spdlog {
class logger;
}

namespace messagecorps::gateway {

struct CatalogOptions {
  std::chrono::milliseconds refresh_interval{1000};
  std::chrono::milliseconds request_timeout{2000};
  std::chrono::milliseconds min_forced_refresh{500};
};

// A topic ready for publishing or subscribing: bound and in Kafka.
struct ResolvedTopic {
  const TopicBinding* binding = nullptr;  // never null; lives as long as the registry
  int partitions = 0;
};

// One line of ListTopics.
struct TopicEntry {
  std::string name;
  const TopicBinding* binding = nullptr;  // null when no type is bound
  bool exists = false;                    // in Kafka (as of the last metadata answer)
  int partitions = 0;
};

class TopicCatalog {
 public:
  TopicCatalog(std::shared_ptr<const TypeRegistry> registry, std::unique_ptr<AdminClient> admin,
               CatalogOptions options, std::shared_ptr<spdlog::logger> logger);
  ~TopicCatalog();  // Stop()
  TopicCatalog(const TopicCatalog&) = delete;
  TopicCatalog& operator=(const TopicCatalog&) = delete;

  // Runs one refresh now, then one every refresh_interval on a background thread, calling
  // `on_reachable(bool)` (on that thread) each time reachability changes, and once at start.
  void Start(std::function<void(bool)> on_reachable);
  void Stop();

  // The last metadata request was answered.
  bool reachable() const;
  // Why the last metadata request failed (OK while reachable): the library's typed error, e.g.
  // authentication or TLS against a secured cluster, with secrets already redacted.
  absl::Status last_error() const;

  // The topic if it can be used. kNotFound: not in Kafka (after a forced refresh) and not bound,
  // or bound but not in Kafka; kFailedPrecondition: in Kafka but no type is bound; kUnavailable:
  // Kafka has never answered yet, so nothing is known.
  absl::StatusOr<ResolvedTopic> Resolve(std::string_view topic);

  // Every bound topic and every topic in Kafka, sorted by name.
  std::vector<TopicEntry> List() const;

  // Partitions with watermarks (a broker round trip per partition). kNotFound as Resolve.
  // One request per topic at a time: callers that come while one is under way share its answer
  // (watermarks a few milliseconds old: a subscriber starting at "latest" may get a few records
  // more, never fewer). 1,000 subscribers opening at once each asked on their own before, and the
  // requests queued on the one admin client timed out (gateway_load_test).
  absl::StatusOr<TopicInfo> Describe(const std::string& topic);

  const TypeRegistry& registry() const { return *registry_; }

 private:
  bool Refresh();  // true when Kafka answered
  void Run();

  const std::shared_ptr<const TypeRegistry> registry_;
  const std::unique_ptr<AdminClient> admin_;
  const CatalogOptions options_;
  const std::shared_ptr<spdlog::logger> logger_;

  mutable std::mutex mu_;
  std::map<std::string, int, std::less<>> partitions_;  // topics in Kafka -> partition count
  bool ever_answered_ = false;
  bool reachable_ = false;
  absl::Status last_error_;
  std::chrono::steady_clock::time_point last_refresh_{};

  std::mutex describe_mu_;
  std::map<std::string, std::shared_future<absl::StatusOr<TopicInfo>>, std::less<>> describing_;

  std::mutex refresh_mu_;  // one metadata request at a time
  std::function<void(bool)> on_reachable_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace messagecorps::gateway
