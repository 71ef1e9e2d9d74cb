#include "predict/detectors/cascade.h"

#include <filesystem>
#include <opencv2/imgproc.hpp>

#include "absl/strings/str_cat.h"

namespace messagecorps::services {

absl::StatusOr<std::unique_ptr<CascadeDetector>> CascadeDetector::Load(const std::string& path,
                                                                       std::string label,
                                                                       Options options) {
  if (!std::filesystem::exists(path)) {
    return absl::NotFoundError(absl::StrCat("cascade ", path, " not found (Debian: opencv-data)"));
  }
  std::unique_ptr<CascadeDetector> d(new CascadeDetector());
  try {
    if (!d->cascade_.load(path)) {
      return absl::InvalidArgumentError(absl::StrCat(path, " is not a cascade OpenCV can load"));
    }
  } catch (const cv::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", e.what()));
  }
  d->label_ = std::move(label);
  const std::string stem = std::filesystem::path(path).stem().string();
  d->name_ = absl::StrCat(stem.find("lbp") == 0 ? "lbp" : "haar", "-", d->label_);
  d->options_ = options;
  return d;
}

absl::StatusOr<std::vector<Detection>> CascadeDetector::Detect(const cv::Mat& bgr) {
  if (auto s = CheckBgr(bgr); !s.ok()) return s;
  cv::Mat gray;
  double factor = 1.0;
  if (options_.max_width > 0 && bgr.cols > options_.max_width) {
    factor = static_cast<double>(options_.max_width) / bgr.cols;
    cv::Mat small;
    cv::resize(bgr, small, cv::Size(), factor, factor, cv::INTER_AREA);
    cv::cvtColor(small, gray, cv::COLOR_BGR2GRAY);
  } else {
    cv::cvtColor(bgr, gray, cv::COLOR_BGR2GRAY);
  }
  cv::equalizeHist(gray, gray);
  std::vector<cv::Rect> found;
  std::vector<int> neighbours;
  try {
    cascade_.detectMultiScale(gray, found, neighbours, options_.scale_factor,
                              options_.min_neighbors, 0,
                              cv::Size(options_.min_size, options_.min_size));
  } catch (const cv::Exception& e) {
    return absl::InternalError(absl::StrCat(name_, ": ", e.what()));
  }
  std::vector<Detection> out;
  const float inv = static_cast<float>(1.0 / factor);
  for (size_t i = 0; i < found.size(); ++i) {
    const float n = i < neighbours.size() ? static_cast<float>(neighbours[i]) : 0.f;
    const cv::Rect2f r(found[i]);
    out.push_back({label_, n / (n + static_cast<float>(options_.min_neighbors)),
                   cv::Rect2f(r.x * inv, r.y * inv, r.width * inv, r.height * inv), name_});
  }
  return SuppressOverlaps(std::move(out), 0.3f);
}

}  // namespace messagecorps::services
