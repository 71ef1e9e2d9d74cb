#include "store/store_service.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <filesystem>
#include <iostream>

#include "common/cache_dir.h"
#include "common/topics.h"

namespace messagecorps::services {

void AddStoreOptions(CLI::App& app, StoreOptions& options) {
  if (options.db.empty()) options.db = DefaultCacheDir() + "/store.db";
  app.add_option("--db", options.db, "SQLite database file");
  app.add_option("--postgres", options.postgres, "PostgreSQL connection URL instead of SQLite");
  app.add_option("--query", options.query, "print what is stored for this trace id (JSON), exit");
  app.add_option("--group", options.group, "consumer group");
  app.add_option("--video-topic", options.video_topic, "topic of frames");
  app.add_option("--predictions-topic", options.predictions_topic, "topic of predictions");
  app.add_flag("--keep-images", options.keep_images, "also store the frames' image bytes");
  app.add_flag("--latest", options.latest,
               "a new group starts at the newest records (default: oldest)");
  app.add_option("--count", options.count, "exit after storing N records (0: run until Ctrl-C)");
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const StoreOptions& options) {
  if (!options.postgres.empty()) return OpenPostgresStore(options.postgres);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(options.db).parent_path(), ec);
  return OpenSqliteStore(options.db);
}

int PrintTrace(Store& store, const std::string& trace_id) {
  auto story = store.QueryTrace(trace_id);
  if (!story.ok()) {
    std::cerr << "mcorps-store: " << story.status().message() << " in " << store.description()
              << "\n";
    return story.status().code() == absl::StatusCode::kNotFound ? 3 : 1;
  }
  std::cout << story->dump(2) << std::endl;
  return 0;
}

std::vector<TopicSpec> StoreTopics(const StoreOptions& options) {
  return {MakeTopicSpec(options.video_topic, 8), MakeTopicSpec(options.predictions_topic, 8),
          MakeTopicSpec(options.video_topic + ".DLQ", 1),
          MakeTopicSpec(options.predictions_topic + ".DLQ", 1)};
}

absl::Status SetUpStoreRouter(Router& router, Recorder& recorder, const StoreOptions& options,
                              std::shared_ptr<spdlog::logger> logger,
                              std::shared_ptr<Metrics> metrics, std::function<void()> on_stored) {
  if (auto s = router.Use(middleware::Logging(std::move(logger))); !s.ok()) return s;
  if (auto s = router.Use(middleware::Metrics(std::move(metrics))); !s.ok()) return s;
  if (auto s =
          router.Use(middleware::Retry(5, std::chrono::milliseconds(100), std::chrono::seconds(2)));
      !s.ok()) {
    return s;
  }
  auto counted = [on_stored](HandlerResult result) {
    if (result.ok() && on_stored) on_stored();
    return result;
  };
  if (auto s = router.Handle("store-frames", Topic<protobuf::data::Image>(options.video_topic),
                             [&recorder, counted](const auto& image, const auto& record) {
                               return counted(recorder.OnFrame(image, record));
                             });
      !s.ok()) {
    return s;
  }
  return router.Handle("store-predictions",
                       Topic<protobuf::predictions::Prediction>(options.predictions_topic),
                       [&recorder, counted](const auto& prediction, const auto& record) {
                         return counted(recorder.OnPrediction(prediction, record));
                       });
}

nlohmann::json StoreStats(const RouterStats& router, const Store& store, const Recorder& recorder) {
  return nlohmann::json{{"service", "store"},
                        {"database", store.description()},
                        {"received", router.received},
                        {"written", recorder.written()},
                        {"duplicates", recorder.duplicates()},
                        {"dead_lettered", router.dead_lettered}};
}

}  // namespace messagecorps::services
