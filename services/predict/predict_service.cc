#include "predict/predict_service.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "absl/strings/str_cat.h"
#include "common/cache_dir.h"
#include "common/topics.h"
#include "messagecorps/program/stop.h"
#include "predict/detectors/detector_spec.h"

namespace messagecorps::services {

void AddPredictOptions(CLI::App& app, PredictOptions& o) {
  app.add_option("--group", o.group, "consumer group shared by the instances");
  app.add_option("--input", o.input, "topic of frames");
  app.add_option("--output", o.output, "topic of predictions");
  app.add_option("--detector", o.detectors,
                 "KIND[:key=value,...] (repeatable; default: hog and blazeface). Kinds: hog, "
                 "blazeface, lbp-face, haar-face, haar-profile, haar-upperbody, haar-fullbody, "
                 "lbp-cat, cascade, onnx — see docs/example-system.md");
  app.add_option("--onnx", o.onnx, "a user ONNX detector (adds an onnx detector)");
  app.add_option("--labels", o.labels, "class names of --onnx, one per line");
  app.add_option("--onnx-layout", o.onnx_layout, "yolo (v5/v8 output) or ssd (DetectionOutput)");
  app.add_option("--onnx-size", o.onnx_size, "input size of --onnx");
  app.add_option("--onnx-threshold", o.onnx_threshold, "score threshold of --onnx");
  app.add_flag("--skip-to-latest,!--no-skip", o.skip_to_latest,
               "when behind, handle only the newest frame of each poll (default on)");
  app.add_option("--max-frame-age", o.max_frame_age,
                 "with skipping on, drop frames captured more than this many seconds ago (0: off)");
  app.add_flag("--earliest", o.earliest,
               "a new group starts at the oldest frame (default: latest)");
  app.add_option("--count", o.count, "exit after handling N frames (0: run until Ctrl-C)");
  app.add_option("--threads", o.threads, "OpenCV threads (0: OpenCV's default)");
  app.add_flag("--exactly-once", o.exactly_once,
               "each poll's predictions, dead letters and input positions in one Kafka "
               "transaction: every frame predicted once in the read_committed output, also when "
               "this process dies (docs/RELIABILITY.md)");
  app.add_option("--transactional-id", o.transactional_id,
                 "with --exactly-once: this instance's transactional id, stable across restarts "
                 "and unique per instance (default mcorps-predict/GROUP/HOSTNAME)")
      ->check([](const std::string& id) {
        return id.empty() ? std::string("--transactional-id must not be empty") : std::string();
      });
}

std::vector<std::string> DetectorSpecs(const PredictOptions& o) {
  std::vector<std::string> specs = o.detectors;
  if (specs.empty() && o.onnx.empty()) specs = {"hog", "blazeface"};
  if (!o.onnx.empty()) {
    std::string spec = absl::StrCat("onnx:model=", o.onnx, ",layout=", o.onnx_layout,
                                    ",size=", o.onnx_size, ",threshold=", o.onnx_threshold);
    if (!o.labels.empty()) absl::StrAppend(&spec, ",labels=", o.labels);
    specs.push_back(spec);
  }
  return specs;
}

absl::StatusOr<std::vector<std::unique_ptr<Detector>>> MakeDetectors(const PredictOptions& o) {
  DetectorContext context{.models_dir = DefaultCacheDir() + "/models"};
  std::vector<std::unique_ptr<Detector>> detectors;
  for (const std::string& spec : DetectorSpecs(o)) {
    auto d = MakeDetector(spec, context);
    if (!d.ok()) {
      return absl::Status(d.status().code(),
                          absl::StrCat("detector '", spec, "': ", d.status().message()));
    }
    detectors.push_back(std::move(*d));
  }
  return detectors;
}

std::vector<TopicSpec> PredictTopics(const PredictOptions& o) {
  return {MakeTopicSpec(o.input, 8), MakeTopicSpec(o.output, 8),
          MakeTopicSpec(o.input + ".DLQ", 1)};
}

void ApplyPredictOptions(const PredictOptions& o, RouterConfig& config) {
  config.skip_to_latest = o.skip_to_latest;
  config.max_records = o.count > 0 ? static_cast<uint64_t>(o.count) : 0;
  if (o.exactly_once) {
    config.exactly_once.emplace();
    config.exactly_once->transactional_id = o.transactional_id;
    if (config.exactly_once->transactional_id.empty()) {
      char host[256] = {};
      ::gethostname(host, sizeof host - 1);
      config.exactly_once->transactional_id = absl::StrCat("mcorps-predict/", o.group, "/", host);
    }
  }
}

absl::Status SetUpPredictRouter(Router& router, Predictor& predictor, const PredictOptions& o,
                                std::shared_ptr<spdlog::logger> logger,
                                std::shared_ptr<Metrics> metrics) {
  if (auto s = router.Use(middleware::Logging(std::move(logger))); !s.ok()) return s;
  if (auto s = router.Use(middleware::Metrics(std::move(metrics))); !s.ok()) return s;
  return router.Handle(
      "predict", Topic<protobuf::data::Image>(o.input),
      [&predictor](const protobuf::data::Image& image, const ReceivedMessage& record) {
        return predictor.Handle(image, record);
      });
}

nlohmann::json PredictStats(const RouterStats& s, const Predictor& predictor) {
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
                        {"commits", s.commits},
                        {"aborted_transactions", s.aborted_transactions},
                        {"predictions_per_second", predictor.predictions().Rate()},
                        {"inference_ms_mean", predictor.inference_ms().Mean()},
                        {"inference_ms_p50", predictor.inference_ms().Percentile(50)},
                        {"inference_ms_p99", predictor.inference_ms().Percentile(99)}};
}

}  // namespace messagecorps::services

namespace messagecorps::services {

void LogProgress(std::stop_token stop, const Router& router, const Predictor& predictor,
                 spdlog::logger& logger, std::chrono::milliseconds period) {
  while (!program::SleepFor(stop, period)) {
    const RouterStats s = router.Stats();
    logger.info("{} predictions, {} skipped, {} dead-lettered; inference p50 {:.1f} ms",
                predictor.predicted(), s.skipped + predictor.skipped(), s.dead_lettered,
                predictor.inference_ms().Percentile(50));
  }
}

}  // namespace messagecorps::services
