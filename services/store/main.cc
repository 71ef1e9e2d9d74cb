// mcorps-store: keeps every frame and prediction (with their envelopes) in SQLite or PostgreSQL,
// and tells a frame's story by trace id.
//
//   mcorps-store                          consume VideoStream + Predictions into the SQLite file
//   mcorps-store --postgres URL           ... into PostgreSQL
//   mcorps-store --query TRACE_ID         print the frame, its predictions and envelopes as JSON
//
// Built on messagecorps::Router (group "store", from the oldest record for a new group); writes
// are idempotent on the records' Kafka coordinates, so redelivered records add no rows. Database
// errors are retried (5 attempts, back-off up to 2 s) before the record is dead-lettered.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <filesystem>
#include <iostream>
#include <thread>

#include "common/cache_dir.h"
#include "common/shutdown.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/router.h"
#include "messagecorps/tracing.h"
#include "store/recorder.h"
#include "store/store.h"

namespace ms = messagecorps::services;

int main(int argc, char** argv) {
  const messagecorps::tracing::ShutdownAtExit flush_spans;  // OTEL_* tracing, when on
  CLI::App app{"mcorps-store: keep frames and predictions in SQLite or PostgreSQL"};
  std::string brokers, db = ms::DefaultCacheDir() + "/store.db", postgres, query;
  std::string group = "store", video_topic = "VideoStream", predictions_topic = "Predictions";
  std::string metrics_host = "127.0.0.1";
  bool keep_images = false, latest = false;
  int64_t count = 0;
  int metrics_port = -1;
  std::vector<std::string> properties;
  app.add_option("--db", db, "SQLite database file");
  app.add_option("--postgres", postgres, "PostgreSQL connection URL instead of SQLite");
  app.add_option("--query", query, "print what is stored for this trace id (JSON) and exit");
  app.add_option("--brokers", brokers, "bootstrap servers (default $MESSAGECORPS_BROKERS)");
  app.add_option("--group", group, "consumer group");
  app.add_option("--video-topic", video_topic, "topic of frames");
  app.add_option("--predictions-topic", predictions_topic, "topic of predictions");
  app.add_flag("--keep-images", keep_images, "also store the frames' image bytes");
  app.add_flag("--latest", latest, "a new group starts at the newest records (default: oldest)");
  app.add_option("--count", count, "exit after storing N records (0: run until Ctrl-C)");
  app.add_option("-X", properties, "librdkafka property key=value (repeatable)");
  app.add_option("--metrics-port", metrics_port, "serve /metrics and /api/stats on this port");
  app.add_option("--metrics-host", metrics_host, "address for --metrics-port");
  CLI11_PARSE(app, argc, argv);

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("store");
  if (postgres.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(db).parent_path(), ec);
  }
  auto store = postgres.empty() ? ms::OpenSqliteStore(db) : ms::OpenPostgresStore(postgres);
  if (!store.ok()) {
    logger->critical("{}", store.status().ToString());
    return 1;
  }

  if (!query.empty()) {
    auto story = (*store)->QueryTrace(query);
    if (!story.ok()) {
      std::cerr << "mcorps-store: " << story.status().message() << " in " << (*store)->description()
                << "\n";
      return story.status().code() == absl::StatusCode::kNotFound ? 3 : 1;
    }
    std::cout << story->dump(2) << std::endl;
    return 0;
  }

  auto resolved = messagecorps::ResolveBrokers(brokers);
  if (!resolved.ok()) {
    std::cerr << "mcorps-store: no brokers: pass --brokers or set MESSAGECORPS_BROKERS\n";
    return 2;
  }
  auto metrics = std::make_shared<messagecorps::Metrics>("store");
  messagecorps::RouterConfig rc;
  rc.consumer.brokers = *resolved;
  rc.consumer.logger = logger;
  rc.consumer.group_id = group;
  rc.consumer.start =
      latest ? messagecorps::StartOffset::kLatest : messagecorps::StartOffset::kEarliest;
  for (const auto& kv : properties) {
    auto p = messagecorps::ParseProperty(kv);
    if (!p.ok()) {
      std::cerr << "mcorps-store: " << p.status().message() << "\n";
      return 2;
    }
    rc.consumer.properties[p->first] = p->second;
  }
  ms::ApplyLiveConsumerDefaults(rc.consumer);
  rc.producer.brokers = *resolved;
  rc.producer.logger = logger;
  auto envelope = ms::ServiceEnvelope("store");
  if (!envelope.ok()) {
    std::cerr << "mcorps-store: " << envelope.status().message() << "\n";
    return 2;
  }
  rc.producer.envelope = *envelope;
  rc.metrics = metrics;
  rc.close_timeout = std::chrono::seconds(5);  // a stopping service never hangs on a dead broker
  rc.logger = logger;
  ms::EnsureTopics(*resolved,
                   {ms::MakeTopicSpec(video_topic, 8), ms::MakeTopicSpec(predictions_topic, 8),
                    ms::MakeTopicSpec(video_topic + ".DLQ", 1),
                    ms::MakeTopicSpec(predictions_topic + ".DLQ", 1)},
                   logger);

  ms::Recorder recorder(**store, keep_images);
  messagecorps::Router router(rc);
  (void)router.Use(messagecorps::middleware::Logging(logger));
  (void)router.Use(messagecorps::middleware::Metrics(metrics));
  (void)router.Use(
      messagecorps::middleware::Retry(5, std::chrono::milliseconds(100), std::chrono::seconds(2)));
  auto a = router.Handle(
      "store-frames", messagecorps::Topic<protobuf::data::Image>(video_topic),
      [&](const auto& image, const auto& record) { return recorder.OnFrame(image, record); });
  auto b = router.Handle("store-predictions",
                         messagecorps::Topic<protobuf::predictions::Prediction>(predictions_topic),
                         [&](const auto& prediction, const auto& record) {
                           return recorder.OnPrediction(prediction, record);
                         });
  if (!a.ok() || !b.ok()) {
    logger->critical("router: {}", (a.ok() ? b : a).ToString());
    return 1;
  }
  auto stats = [&] {
    const auto s = router.Stats();
    nlohmann::json j{{"service", "store"},
                     {"database", (*store)->description()},
                     {"received", s.received},
                     {"written", recorder.written()},
                     {"duplicates", recorder.duplicates()},
                     {"dead_lettered", s.dead_lettered}};
    return j;
  };
  auto status = ms::StatusServer::StartIfEnabled(metrics, stats, metrics_host, metrics_port);
  if (!status.ok()) {
    logger->critical("{}", status.status().ToString());
    return 1;
  }
  ms::InstallStopSignals();
  logger->info("storing {} and {} into {}{}", video_topic, predictions_topic,
               (*store)->description(), keep_images ? " (with images)" : "");
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      if (ms::WaitForStop(std::chrono::milliseconds(100))) break;
      if (count > 0 && static_cast<int64_t>(recorder.written() + recorder.duplicates()) >= count) {
        break;
      }
    }
    router.Stop();
  });
  absl::Status result = router.Run();
  done.store(true);
  watcher.join();
  if (!result.ok()) logger->error("stopped: {}", result.ToString());
  std::cout << stats().dump() << std::endl;
  return result.ok() ? 0 : 1;
}
