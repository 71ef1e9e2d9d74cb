#include "predict/detectors/onnx_detector.h"

#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"

namespace messagecorps::services {
namespace {

std::string LabelOf(const std::vector<std::string>& labels, int id) {
  if (id >= 0 && static_cast<size_t>(id) < labels.size()) return labels[id];
  return absl::StrCat("class", id);
}

}  // namespace

absl::StatusOr<OnnxLayout> ParseOnnxLayout(const std::string& name) {
  if (name == "yolo" || name == "yolov5" || name == "yolov8") return OnnxLayout::kYolo;
  if (name == "ssd") return OnnxLayout::kSsd;
  return absl::InvalidArgumentError(absl::StrCat("unknown ONNX layout '", name, "' (yolo, ssd)"));
}

std::vector<Detection> ParseYoloOutput(const cv::Mat& output,
                                       const std::vector<std::string>& labels, float threshold,
                                       float scale, const std::string& model) {
  std::vector<Detection> found;
  if (output.dims != 3 || output.size[0] != 1 || output.type() != CV_32F) return found;
  int rows = output.size[1], cols = output.size[2];
  // YOLOv8 puts attributes first ([1, 4+C, N] with N >> 4+C): transpose to rows of attributes.
  cv::Mat table(rows, cols, CV_32F, const_cast<float*>(output.ptr<float>()));
  bool v8 = rows < cols;
  if (v8) {
    table = table.t();
    std::swap(rows, cols);
  }
  const int first_class = v8 ? 4 : 5;
  if (cols <= first_class) return found;
  for (int i = 0; i < rows; ++i) {
    const float* r = table.ptr<float>(i);
    const float objectness = v8 ? 1.0f : r[4];
    if (objectness < threshold) continue;
    int best = -1;
    float best_score = 0;
    for (int c = first_class; c < cols; ++c) {
      if (r[c] > best_score) {
        best_score = r[c];
        best = c - first_class;
      }
    }
    const float score = objectness * best_score;
    if (best < 0 || score < threshold) continue;
    const float w = r[2] * scale, h = r[3] * scale;
    found.push_back({LabelOf(labels, best), score,
                     cv::Rect2f(r[0] * scale - w / 2, r[1] * scale - h / 2, w, h), model});
  }
  return found;
}

std::vector<Detection> ParseSsdOutput(const cv::Mat& output, const std::vector<std::string>& labels,
                                      float threshold, int label_offset, cv::Size frame,
                                      const std::string& model) {
  std::vector<Detection> found;
  if (output.type() != CV_32F || output.total() % 7 != 0) return found;
  const float* p = output.ptr<float>();
  const size_t n = output.total() / 7;
  const float fw = static_cast<float>(frame.width), fh = static_cast<float>(frame.height);
  for (size_t i = 0; i < n; ++i) {
    const float* r = p + i * 7;
    const float score = r[2];
    if (score < threshold) continue;
    const int id = static_cast<int>(r[1]) - label_offset;
    cv::Rect2f box(r[3] * fw, r[4] * fh, (r[5] - r[3]) * fw, (r[6] - r[4]) * fh);
    box &= cv::Rect2f(0, 0, fw, fh);
    if (box.area() <= 0) continue;
    found.push_back({LabelOf(labels, id), score, box, model});
  }
  return found;
}

absl::StatusOr<std::vector<std::string>> ReadLabels(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("labels file ", path, " not found"));
  std::vector<std::string> labels;
  std::string line;
  while (std::getline(in, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
    labels.push_back(line.empty() ? absl::StrCat("class", labels.size()) : line);
  }
  return labels;
}

absl::StatusOr<std::unique_ptr<OnnxDetector>> OnnxDetector::Load(const std::string& model_path,
                                                                 std::vector<std::string> labels,
                                                                 Options options) {
  if (!std::filesystem::exists(model_path)) {
    return absl::NotFoundError(absl::StrCat("ONNX model ", model_path, " not found"));
  }
  if (options.input_size < 32 || options.input_size > 2048) {
    return absl::InvalidArgumentError("ONNX input size must be in 32..2048");
  }
  std::unique_ptr<OnnxDetector> d(new OnnxDetector());
  try {
    d->net_ = cv::dnn::readNetFromONNX(model_path);
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(model_path, ": ", e.what()));
  }
  if (d->net_.empty()) return absl::InvalidArgumentError(absl::StrCat(model_path, ": empty net"));
  d->labels_ = std::move(labels);
  d->options_ = options;
  d->name_ = std::filesystem::path(model_path).stem().string();
  return d;
}

absl::StatusOr<std::vector<Detection>> OnnxDetector::Detect(const cv::Mat& bgr) {
  if (auto s = CheckBgr(bgr); !s.ok()) return s;
  const int size = options_.input_size;
  try {
    if (options_.layout == OnnxLayout::kYolo) {
      Letterbox lb = MakeLetterbox(bgr, size);
      cv::Mat blob = cv::dnn::blobFromImage(lb.image, 1.0 / 255.0, cv::Size(size, size),
                                            cv::Scalar(), /*swapRB=*/true, /*crop=*/false);
      net_.setInput(blob);
      cv::Mat out = net_.forward();
      auto found = ParseYoloOutput(out, labels_, options_.threshold, lb.scale, name_);
      return SuppressOverlaps(std::move(found), options_.iou);
    }
    cv::Mat blob = cv::dnn::blobFromImage(bgr, 1.0 / 127.5, cv::Size(size, size),
                                          cv::Scalar(127.5, 127.5, 127.5), true, false);
    net_.setInput(blob);
    cv::Mat out = net_.forward();
    auto found =
        ParseSsdOutput(out, labels_, options_.threshold, options_.label_offset, bgr.size(), name_);
    return SuppressOverlaps(std::move(found), options_.iou);
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat(name_, ": ", e.what()));
  }
}

}  // namespace messagecorps::services
