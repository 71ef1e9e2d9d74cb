// mcorps-predict's parts beyond the library: its own options, the detectors they name, the router
// it runs and its summary line.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/admin.h"
#include "messagecorps/router.h"
#include "predict/detectors/detector.h"
#include "predict/predictor.h"

namespace CLI {
class App;
}

namespace messagecorps::services {

struct PredictOptions {
  std::string group = "predict";
  std::string input = "VideoStream";
  std::string output = "Predictions";
  std::vector<std::string> detectors;  // KIND[:key=value,...]; empty: hog and blazeface
  std::string onnx, labels, onnx_layout = "yolo";
  int onnx_size = 640;
  double onnx_threshold = 0.5;
  bool skip_to_latest = true;
  double max_frame_age = 2.0;
  bool earliest = false;
  int64_t count = 0;  // exit after handling (or dead-lettering) this many frames; 0: no limit
  // Exactly-once (RouterConfig::exactly_once): each poll's predictions, dead letters and input
  // positions in one transaction. transactional_id empty: "mcorps-predict/<group>/<host name>".
  bool exactly_once = false;
  std::string transactional_id;
  int threads = 0;  // OpenCV threads; 0: OpenCV's default
};

// Registers predict's own options.
void AddPredictOptions(CLI::App& app, PredictOptions& options);

// The detector specs the options name: --detector ones (default hog and blazeface when neither
// --detector nor --onnx is given), then one for --onnx.
std::vector<std::string> DetectorSpecs(const PredictOptions& options);

// The detectors of DetectorSpecs (models from the cache dir). kInvalidArgument naming the spec.
absl::StatusOr<std::vector<std::unique_ptr<Detector>>> MakeDetectors(const PredictOptions& options);

// Input, output (8 partitions) and the input's dead-letter topic.
std::vector<TopicSpec> PredictTopics(const PredictOptions& options);

// The router's settings that predict adds to ServiceRouterConfig: skip to latest, --count,
// --exactly-once (with its transactional id).
void ApplyPredictOptions(const PredictOptions& options, RouterConfig& config);

// Logging and Metrics middleware and the handler (Predictor::Handle on the input topic).
absl::Status SetUpPredictRouter(Router& router, Predictor& predictor, const PredictOptions& options,
                                std::shared_ptr<spdlog::logger> logger,
                                std::shared_ptr<Metrics> metrics);

// The summary line printed at exit and served on /api/stats.
nlohmann::json PredictStats(const RouterStats& router, const Predictor& predictor);

}  // namespace messagecorps::services

namespace messagecorps::services {
// Logs predictions, skips, dead letters and inference p50 every `period` until `stop`.
void LogProgress(std::stop_token stop, const Router& router, const Predictor& predictor,
                 spdlog::logger& logger, std::chrono::milliseconds period);
}  // namespace messagecorps::services
