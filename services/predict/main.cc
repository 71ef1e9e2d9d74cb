// mcorps-predict: labels VideoStream frames and publishes a Prediction per frame on Predictions.
//
// Built on messagecorps::Router: instances share the topic's partitions through the consumer group
// (--group, default "predict"); each Prediction inherits its frame's trace; offsets are committed
// after the Prediction is delivered. When behind (--skip-to-latest, on by default) only the newest
// frame is handled — the router's newest-per-partition plus the predictor's age/ordering check —
// and the skipped frames are counted. Frames that cannot be handled (corrupt image, wrong size,
// another message type) go to VideoStream.DLQ with the reason; the service keeps running.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <opencv2/core/utility.hpp>
#include <thread>

#include "common/cache_dir.h"
#include "common/shutdown.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/router.h"
#include "messagecorps/tracing.h"
#include "predict/detectors/detector_spec.h"
#include "predict/predictor.h"

namespace ms = messagecorps::services;

int main(int argc, char** argv) {
  const messagecorps::tracing::ShutdownAtExit flush_spans;  // OTEL_* tracing, when on
  CLI::App app{"mcorps-predict: detect objects in VideoStream frames, publish Predictions"};
  std::string brokers, group = "predict", input = "VideoStream", output = "Predictions";
  std::string onnx, labels, onnx_layout = "yolo", metrics_host = "127.0.0.1";
  std::vector<std::string> detector_specs, properties;
  bool skip_to_latest = true, earliest = false;
  int threads = 0, metrics_port = -1, onnx_size = 640;
  int64_t count = 0;
  double onnx_threshold = 0.5, max_frame_age = 2.0;
  app.add_option("--brokers", brokers, "bootstrap servers (default $MESSAGECORPS_BROKERS)");
  app.add_option("--group", group, "consumer group shared by the instances");
  app.add_option("--input", input, "topic of frames");
  app.add_option("--output", output, "topic of predictions");
  app.add_option("--detector", detector_specs,
                 "KIND[:key=value,...] (repeatable; default: hog and blazeface). Kinds: hog, "
                 "blazeface, lbp-face, haar-face, haar-profile, haar-upperbody, haar-fullbody, "
                 "lbp-cat, cascade, onnx — see docs/example-system.md");
  app.add_option("--onnx", onnx, "a user ONNX detector (adds an onnx detector)");
  app.add_option("--labels", labels, "class names of --onnx, one per line");
  app.add_option("--onnx-layout", onnx_layout, "yolo (v5/v8 output) or ssd (DetectionOutput)");
  app.add_option("--onnx-size", onnx_size, "input size of --onnx");
  app.add_option("--onnx-threshold", onnx_threshold, "score threshold of --onnx");
  app.add_flag("--skip-to-latest,!--no-skip", skip_to_latest,
               "when behind, handle only the newest frame of each poll (default on)");
  app.add_option("--max-frame-age", max_frame_age,
                 "with skipping on, drop frames captured more than this many seconds ago (0: off)");
  app.add_flag("--earliest", earliest, "a new group starts at the oldest frame (default: latest)");
  app.add_option("--count", count, "exit after handling N frames (0: run until Ctrl-C)");
  app.add_option("--threads", threads, "OpenCV threads (0: OpenCV's default)");
  app.add_option("-X", properties, "librdkafka property key=value (repeatable)");
  app.add_option("--metrics-port", metrics_port, "serve /metrics and /api/stats on this port");
  app.add_option("--metrics-host", metrics_host, "address for --metrics-port");
  CLI11_PARSE(app, argc, argv);

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("predict");
  if (threads > 0) cv::setNumThreads(threads);
  if (detector_specs.empty() && onnx.empty()) detector_specs = {"hog", "blazeface"};
  if (!onnx.empty()) {
    std::string spec = "onnx:model=" + onnx + ",layout=" + onnx_layout +
                       ",size=" + std::to_string(onnx_size) +
                       ",threshold=" + std::to_string(onnx_threshold);
    if (!labels.empty()) spec += ",labels=" + labels;
    detector_specs.push_back(spec);
  }
  ms::DetectorContext context{.models_dir = ms::DefaultCacheDir() + "/models"};
  std::vector<std::unique_ptr<ms::Detector>> detectors;
  for (const auto& spec : detector_specs) {
    auto d = ms::MakeDetector(spec, context);
    if (!d.ok()) {
      logger->critical("detector '{}': {}", spec, d.status().ToString());
      return 2;
    }
    detectors.push_back(std::move(*d));
  }
  auto resolved = messagecorps::ResolveBrokers(brokers);
  if (!resolved.ok()) {
    std::cerr << "mcorps-predict: no brokers: pass --brokers or set MESSAGECORPS_BROKERS\n";
    return 2;
  }
  auto metrics = std::make_shared<messagecorps::Metrics>("predict");
  ms::Predictor predictor(std::move(detectors),
                          messagecorps::Topic<protobuf::predictions::Prediction>(output),
                          {.enabled = skip_to_latest, .max_frame_age_s = max_frame_age}, metrics);

  messagecorps::RouterConfig rc;
  rc.consumer.brokers = *resolved;
  rc.consumer.logger = logger;
  rc.consumer.group_id = group;
  rc.consumer.start =
      earliest ? messagecorps::StartOffset::kEarliest : messagecorps::StartOffset::kLatest;
  rc.producer.brokers = *resolved;
  rc.producer.logger = logger;
  auto envelope = ms::ServiceEnvelope("predict");
  if (!envelope.ok()) {
    std::cerr << "mcorps-predict: " << envelope.status().message() << "\n";
    return 2;
  }
  rc.producer.envelope = *envelope;
  for (const auto& kv : properties) {
    auto p = messagecorps::ParseProperty(kv);
    if (!p.ok()) {
      std::cerr << "mcorps-predict: " << p.status().message() << "\n";
      return 2;
    }
    rc.consumer.properties[p->first] = p->second;
  }
  ms::ApplyLiveConsumerDefaults(rc.consumer);
  rc.skip_to_latest = skip_to_latest;
  rc.close_timeout = std::chrono::seconds(5);  // a stopping service never hangs on a dead broker
  rc.metrics = metrics;
  rc.logger = logger;
  ms::EnsureTopics(*resolved,
                   {ms::MakeTopicSpec(input, 8), ms::MakeTopicSpec(output, 8),
                    ms::MakeTopicSpec(input + ".DLQ", 1)},
                   logger);

  messagecorps::Router router(rc);
  (void)router.Use(messagecorps::middleware::Logging(logger));
  (void)router.Use(messagecorps::middleware::Metrics(metrics));
  auto handled = router.Handle(
      "predict", messagecorps::Topic<protobuf::data::Image>(input),
      [&](const protobuf::data::Image& image, const messagecorps::ReceivedMessage& record) {
        return predictor.Handle(image, record);
      });
  if (!handled.ok()) {
    logger->critical("router: {}", handled.ToString());
    return 1;
  }

  auto stats = [&] {
    const auto s = router.Stats();
    return nlohmann::json{{"service", "predict"},
                          {"model", predictor.model_name()},
                          {"received", s.received},
                          {"predicted", predictor.predicted()},
                          {"published", s.published},
                          {"skipped", s.skipped + predictor.skipped()},
                          {"skipped_by_router", s.skipped},
                          {"skipped_as_stale", predictor.skipped()},
                          {"dead_lettered", s.dead_lettered},
                          {"handler_errors", s.handler_errors},
                          {"predictions_per_second", predictor.predictions().Rate()},
                          {"inference_ms_mean", predictor.inference_ms().Mean()},
                          {"inference_ms_p50", predictor.inference_ms().Percentile(50)},
                          {"inference_ms_p99", predictor.inference_ms().Percentile(99)}};
  };
  auto status = ms::StatusServer::StartIfEnabled(metrics, stats, metrics_host, metrics_port);
  if (!status.ok()) {
    logger->critical("{}", status.status().ToString());
    return 1;
  }
  ms::InstallStopSignals();
  logger->info("predicting {} -> {} with {} (group {}, skip to latest: {})", input, output,
               predictor.model_name(), group, skip_to_latest ? "on" : "off");

  // The router runs on this thread; a watcher stops it on a signal, at --count, and logs progress.
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    auto last_log = std::chrono::steady_clock::now();
    while (!done.load()) {
      if (ms::WaitForStop(std::chrono::milliseconds(100))) break;
      const auto s = router.Stats();
      if (count > 0 && static_cast<int64_t>(s.handled + s.dead_lettered) >= count) break;
      if (std::chrono::steady_clock::now() - last_log > std::chrono::seconds(10)) {
        last_log = std::chrono::steady_clock::now();
        logger->info("{} predictions, {} skipped, {} dead-lettered; inference p50 {:.1f} ms",
                     predictor.predicted(), s.skipped + predictor.skipped(), s.dead_lettered,
                     predictor.inference_ms().Percentile(50));
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
