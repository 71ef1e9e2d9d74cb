// The pluggable detector interface of mcorps-predict, and helpers its implementations share.
//
// A Detector finds labelled boxes in one BGR frame. Implementations: HOG person (hog_person.h),
// BlazeFace (blazeface.h), Haar/LBP cascades (cascade.h) and user ONNX models (onnx_detector.h);
// detector_spec.h builds them from command-line specs.
//
// Thread-safety: a Detector is used from one thread at a time (OpenCV nets and cascades keep
// per-call state); make one per thread to run in parallel.
#pragma once

#include <memory>
#include <opencv2/core/mat.hpp>
#include <opencv2/core/types.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace messagecorps::services {

struct Detection {
  std::string label;
  float score = 0;    // detector-specific confidence; see each detector for its scale
  cv::Rect2f box;     // pixels of the frame given to Detect
  std::string model;  // Detector::name()
};

class Detector {
 public:
  virtual ~Detector() = default;
  // kInvalidArgument for an empty or non-BGR image; kInternal when OpenCV throws.
  virtual absl::StatusOr<std::vector<Detection>> Detect(const cv::Mat& bgr) = 0;
  // Short name for Prediction.model_name / Detection.model ("hog-person", "blazeface-back", ...).
  virtual std::string name() const = 0;
};

// Non-maximum suppression per label: keeps the best-scoring box among those overlapping by more
// than `iou_threshold`.
std::vector<Detection> SuppressOverlaps(std::vector<Detection> detections, float iou_threshold);

// A square letterbox: the frame pasted top-left into a black square of its longer side, then
// resized to `size`. `scale` maps letterbox pixels back to frame pixels.
struct Letterbox {
  cv::Mat image;       // size x size, BGR
  float scale = 1.0f;  // frame pixels per letterbox pixel
};
Letterbox MakeLetterbox(const cv::Mat& bgr, int size);

// kInvalidArgument unless `bgr` is a non-empty 8-bit 3-channel image.
absl::Status CheckBgr(const cv::Mat& bgr);

}  // namespace messagecorps::services
