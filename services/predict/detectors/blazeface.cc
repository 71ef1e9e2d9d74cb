#include "predict/detectors/blazeface.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"

namespace messagecorps::services {
namespace {

std::vector<cv::Point2f> MakeAnchors() {
  std::vector<cv::Point2f> anchors;
  anchors.reserve(896);
  for (auto [cells, per_cell] : {std::pair{16, 2}, std::pair{8, 6}}) {
    for (int y = 0; y < cells; ++y) {
      for (int x = 0; x < cells; ++x) {
        for (int k = 0; k < per_cell; ++k) {
          anchors.emplace_back((x + 0.5f) / cells, (y + 0.5f) / cells);
        }
      }
    }
  }
  return anchors;
}

float Sigmoid(float x) { return 1.0f / (1.0f + std::exp(-std::clamp(x, -80.0f, 80.0f))); }

}  // namespace

std::string BlazeFaceDetector::ModelFile(const std::string& models_dir, Variant variant) {
  return (std::filesystem::path(models_dir) / "blazeface" /
          (variant == Variant::kFront128 ? "face_detection_front_128x128_barracuda.onnx"
                                         : "face_detection_back_256x256_barracuda.onnx"))
      .string();
}

absl::StatusOr<std::unique_ptr<BlazeFaceDetector>> BlazeFaceDetector::Load(
    const std::string& model_path, Options options) {
  if (!std::filesystem::exists(model_path)) {
    return absl::NotFoundError(
        absl::StrCat("BlazeFace model ", model_path, " not found: run scripts/fetch-models"));
  }
  std::unique_ptr<BlazeFaceDetector> d(new BlazeFaceDetector());
  try {
    d->net_ = cv::dnn::readNetFromONNX(model_path);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": ", e.what()));
  }
  if (d->net_.empty()) return absl::InvalidArgumentError(absl::StrCat(model_path, ": empty net"));
  d->net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  d->net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  d->outputs_ = d->net_.getUnconnectedOutLayersNames();
  if (d->outputs_.size() != 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(model_path, ": expected 4 outputs, found ", d->outputs_.size()));
  }
  d->options_ = options;
  d->size_ = options.variant == Variant::kFront128 ? 128 : 256;
  d->anchors_ = MakeAnchors();
  return d;
}

absl::StatusOr<std::vector<Detection>> BlazeFaceDetector::Detect(const cv::Mat& bgr) {
  if (auto s = CheckBgr(bgr); !s.ok()) return s;
  Letterbox lb = MakeLetterbox(bgr, size_);
  cv::Mat rgb;
  cv::cvtColor(lb.image, rgb, cv::COLOR_BGR2RGB);
  cv::Mat input;
  rgb.convertTo(input, CV_32FC3, 1.0 / 127.5, -1.0);
  // NHWC: an interleaved HxWx3 image already has that memory layout.
  const int shape[] = {1, size_, size_, 3};
  cv::Mat blob(4, shape, CV_32F, input.data);
  std::vector<cv::Mat> outs;
  try {
    net_.setInput(blob);
    net_.forward(outs, outputs_);
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat(name(), ": ", e.what()));
  }
  // Identify the outputs by shape: scores have 1 value per anchor, boxes 16.
  const cv::Mat* scores[2] = {nullptr, nullptr};
  const cv::Mat* boxes[2] = {nullptr, nullptr};
  for (const cv::Mat& m : outs) {
    const int anchors = m.dims >= 2 ? m.size[1] : 0;
    const int width = m.dims >= 3 ? m.size[2] : 1;
    const int slot = anchors == 512 ? 0 : anchors == 384 ? 1 : -1;
    if (slot < 0) continue;
    (width == 1 ? scores : boxes)[slot] = &m;
  }
  if (!scores[0] || !scores[1] || !boxes[0] || !boxes[1]) {
    return absl::InternalError(absl::StrCat(name(), ": unexpected output shapes"));
  }
  std::vector<Detection> found;
  const float s = static_cast<float>(size_);
  for (int part = 0; part < 2; ++part) {
    const int offset = part == 0 ? 0 : 512;
    const int n = part == 0 ? 512 : 384;
    const float* sc = scores[part]->ptr<float>();
    const float* bx = boxes[part]->ptr<float>();
    for (int i = 0; i < n; ++i) {
      const float p = Sigmoid(sc[i]);
      if (p < options_.threshold) continue;
      const float* r = bx + static_cast<size_t>(i) * 16;
      const cv::Point2f a = anchors_[offset + i];
      const float cx = a.x + r[0] / s, cy = a.y + r[1] / s;
      const float w = r[2] / s, h = r[3] / s;
      // Normalized letterbox coordinates -> frame pixels.
      const float k = s * lb.scale;
      cv::Rect2f box((cx - w / 2) * k, (cy - h / 2) * k, w * k, h * k);
      box &= cv::Rect2f(0, 0, static_cast<float>(bgr.cols), static_cast<float>(bgr.rows));
      if (box.area() <= 0) continue;
      found.push_back({"face", p, box, name()});
    }
  }
  return SuppressOverlaps(std::move(found), options_.iou);
}

}  // namespace messagecorps::services
