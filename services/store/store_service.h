// mcorps-store's parts beyond the library: its own options, the router it runs (handlers for
// frames and predictions, retrying database errors), its summary line and the --query mode.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/status/status.h"
#include "messagecorps/admin.h"
#include "messagecorps/router.h"
#include "store/recorder.h"
#include "store/store.h"

namespace CLI {
class App;
}

namespace messagecorps::services {

struct StoreOptions {
  std::string db;  // SQLite file (default: the cache dir's store.db)
  std::string postgres;
  std::string query;  // --query TRACE_ID: print and exit
  std::string group = "store";
  std::string video_topic = "VideoStream";
  std::string predictions_topic = "Predictions";
  bool keep_images = false;
  bool latest = false;
  int64_t count = 0;  // exit after storing this many records (written + duplicates); 0: no limit
};

// Registers the store's own options (--db --postgres --query --group --video-topic
// --predictions-topic --keep-images --latest --count).
void AddStoreOptions(CLI::App& app, StoreOptions& options);

// Opens SQLite (creating the file's directory) or PostgreSQL.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreOptions& options);

// --query: prints the trace's story as JSON; exit code 0, 3 when nothing is stored for it, 1 on
// a database error.
int PrintTrace(Store& store, const std::string& trace_id);

// The topics the store reads and dead-letters to.
std::vector<TopicSpec> StoreTopics(const StoreOptions& options);

// Middleware (Logging, Metrics, Retry of database errors: 5 attempts, 100 ms to 2 s) and the two
// handlers. `on_stored` is called after each record written or found already stored (for
// --count). kAlreadyExists / kInvalidArgument as Router::Handle/Use.
absl::Status SetUpStoreRouter(Router& router, Recorder& recorder, const StoreOptions& options,
                              std::shared_ptr<spdlog::logger> logger,
                              std::shared_ptr<Metrics> metrics, std::function<void()> on_stored);

// The summary line printed at exit and served on /api/stats.
nlohmann::json StoreStats(const RouterStats& router, const Store& store, const Recorder& recorder);

}  // namespace messagecorps::services
