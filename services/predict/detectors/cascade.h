// Viola-Jones cascades (Haar or LBP XML from Debian's opencv-data, /usr/share/opencv4/) with a
// label of your choice. Score = n / (n + min_neighbors) where n is the number of raw hits merged
// into the box, so it grows with agreement but is not a probability.
#pragma once

#include <opencv2/objdetect.hpp>

#include "predict/detectors/detector.h"

namespace messagecorps::services {

class CascadeDetector : public Detector {
 public:
  struct Options {
    double scale_factor = 1.1;
    int min_neighbors = 4;
    int min_size = 24;
    int max_width = 640;  // frames are scaled down to this width first (speed)
  };
  // kNotFound when the file is missing, kInvalidArgument when it is not a cascade.
  static absl::StatusOr<std::unique_ptr<CascadeDetector>> Load(const std::string& path,
                                                               std::string label, Options options);
  absl::StatusOr<std::vector<Detection>> Detect(const cv::Mat& bgr) override;
  std::string name() const override { return name_; }

 private:
  CascadeDetector() = default;
  cv::CascadeClassifier cascade_;
  std::string label_, name_;
  Options options_;
};

}  // namespace messagecorps::services
