// The prediction handler: one VideoStream frame in, one Prediction out (or an error, which the
// router sends to VideoStream.DLQ). A plain function over a list of detectors, so it runs under
// the library's Router (mcorps-predict), or directly in a test.
//
// Skipping when behind: besides the router's skip_to_latest (newest record per partition of a
// batch), the predictor drops frames older than `max_frame_age` or older than a frame of the
// same source it already handled — frames round-robin over partitions, so per-partition skipping
// alone still works through up to one frame per partition. Skipped frames get no Prediction and
// are counted (skipped(), Counter::kSkipped).
//
// Thread-safety: a Predictor is used from one thread (its detectors are not thread-safe); the
// counters and stats may be read from any thread.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/stats_window.h"
#include "messagecorps/metrics.h"
#include "messagecorps/router.h"
#include "predict/detectors/detector.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace messagecorps::services {

struct SkipPolicy {
  bool enabled = true;
  double max_frame_age_s = 2.0;  // 0: no age limit (only "older than a handled frame")
};

class Predictor {
 public:
  Predictor(std::vector<std::unique_ptr<Detector>> detectors,
            Topic<protobuf::predictions::Prediction> output, SkipPolicy skip = {},
            std::shared_ptr<Metrics> metrics = nullptr);

  // Runs every detector on the frame; overlapping boxes of one label from different detectors are
  // merged (the best score wins). Errors: the frame's (DecodeFrame: corrupt image, size
  // mismatch: kInvalidArgument) or a detector's (kInternal).
  absl::StatusOr<protobuf::predictions::Prediction> Predict(const protobuf::data::Image& image);

  // Router handler: predicts, fills the source_* fields and returns the Prediction to publish
  // (derived from the frame: same trace). A skipped frame returns no message.
  HandlerResult Handle(const protobuf::data::Image& image, const ReceivedMessage& record);

  std::string model_name() const;
  const StatsWindow& inference_ms() const { return inference_ms_; }
  const StatsWindow& predictions() const { return predictions_; }
  uint64_t skipped() const { return skipped_.load(); }
  uint64_t predicted() const { return predicted_.load(); }

 private:
  bool ShouldSkip(const protobuf::data::Image& image);

  std::vector<std::unique_ptr<Detector>> detectors_;
  Topic<protobuf::predictions::Prediction> output_;
  SkipPolicy skip_;
  std::shared_ptr<Metrics> metrics_;
  std::map<std::string, double> newest_capture_;  // by Image.source
  StatsWindow inference_ms_{std::chrono::seconds(10)};
  StatsWindow predictions_{std::chrono::seconds(5)};
  std::atomic<uint64_t> skipped_{0}, predicted_{0};
};

}  // namespace messagecorps::services
