// People with OpenCV's HOG + linear SVM default people detector (Dalal-Triggs, 64x128 window).
// Score = the SVM weight of the grouped window (not a probability); detections below
// `min_weight` (default 0.5: false hits were seen at ~0.2) are dropped. Frames wider than
// `max_width` are scaled down first. Cost grows with pixels and pyramid levels (`scale`): on
// vtest.avi (768x576) about 80-165 ms per frame on one busy core; 640x480 finds fewer of the
// video's small pedestrians.
#pragma once

#include <opencv2/objdetect.hpp>

#include "predict/detectors/detector.h"

namespace messagecorps::services {

class HogPersonDetector : public Detector {
 public:
  struct Options {
    double min_weight = 0.5;
    int max_width = 800;
    double scale = 1.05;
  };
  HogPersonDetector();
  explicit HogPersonDetector(Options options);
  absl::StatusOr<std::vector<Detection>> Detect(const cv::Mat& bgr) override;
  std::string name() const override { return "hog-person"; }

 private:
  Options options_;
  cv::HOGDescriptor hog_;
};

}  // namespace messagecorps::services
