// A user's ONNX detector, run with cv::dnn (`--onnx model.onnx --labels labels.txt`).
//
// Output layouts understood (--onnx-layout):
//   yolo  YOLOv5-style [1, N, 5+C] rows (cx, cy, w, h, objectness, C class scores; box in input
//         pixels), or YOLOv8-style [1, 4+C, N] columns (no objectness) — told apart by shape.
//         Input: the frame letterboxed to SxS, RGB, scaled to [0,1], NCHW.
//   ssd   OpenCV/TF DetectionOutput rows [1, 1, N, 7]: (image id, class id, score, x1, y1, x2,
//         y2), box normalized to the input. Input: the frame resized to SxS, RGB,
//         (pixel - 127.5) / 127.5, NCHW. Class ids index labels.txt after subtracting
//         label_offset (1 when class 0 is the background).
// labels.txt: one name per line, in class-id order (darknet's coco.names works for YOLO COCO).
#pragma once

#include <opencv2/dnn.hpp>

#include "predict/detectors/detector.h"

namespace messagecorps::services {

enum class OnnxLayout { kYolo, kSsd };
absl::StatusOr<OnnxLayout> ParseOnnxLayout(const std::string& name);

// Pure decoders of the raw output tensors (unit-tested without a model). `scale` maps input
// pixels to frame pixels (yolo: letterbox; ssd: the normalized box is multiplied by the frame
// size instead and `scale` is unused).
std::vector<Detection> ParseYoloOutput(const cv::Mat& output,
                                       const std::vector<std::string>& labels, float threshold,
                                       float scale, const std::string& model);
std::vector<Detection> ParseSsdOutput(const cv::Mat& output, const std::vector<std::string>& labels,
                                      float threshold, int label_offset, cv::Size frame,
                                      const std::string& model);

// One name per line; blank lines kept as "class<N>" so ids stay aligned. kNotFound if missing.
absl::StatusOr<std::vector<std::string>> ReadLabels(const std::string& path);

class OnnxDetector : public Detector {
 public:
  struct Options {
    OnnxLayout layout = OnnxLayout::kYolo;
    int input_size = 640;
    float threshold = 0.5f;
    float iou = 0.45f;
    int label_offset = 0;
  };
  static absl::StatusOr<std::unique_ptr<OnnxDetector>> Load(const std::string& model_path,
                                                            std::vector<std::string> labels,
                                                            Options options);
  absl::StatusOr<std::vector<Detection>> Detect(const cv::Mat& bgr) override;
  std::string name() const override { return name_; }

 private:
  OnnxDetector() = default;
  cv::dnn::Net net_;
  std::vector<std::string> labels_;
  Options options_;
  std::string name_;
};

}  // namespace messagecorps::services
