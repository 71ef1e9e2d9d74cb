#include "predict/detectors/hog_person.h"

#include <opencv2/imgproc.hpp>

namespace messagecorps::services {

HogPersonDetector::HogPersonDetector() : HogPersonDetector(Options{}) {}

HogPersonDetector::HogPersonDetector(Options options) : options_(options) {
  hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
}

absl::StatusOr<std::vector<Detection>> HogPersonDetector::Detect(const cv::Mat& bgr) {
  if (auto s = CheckBgr(bgr); !s.ok()) return s;
  cv::Mat input = bgr;
  double factor = 1.0;
  if (options_.max_width > 0 && bgr.cols > options_.max_width) {
    factor = static_cast<double>(options_.max_width) / bgr.cols;
    cv::resize(bgr, input, cv::Size(), factor, factor, cv::INTER_AREA);
  }
  std::vector<cv::Rect> found;
  std::vector<double> weights;
  try {
    hog_.detectMultiScale(input, found, weights, 0, cv::Size(8, 8), cv::Size(0, 0), options_.scale,
                          2.0);
  } catch (const cv::Exception& e) {
    return absl::InternalError(std::string("HOG: ") + e.what());
  }
  std::vector<Detection> out;
  for (size_t i = 0; i < found.size(); ++i) {
    const double w = i < weights.size() ? weights[i] : 0;
    if (w < options_.min_weight) continue;
    // HOG boxes include a margin around the person: shrink them a little, as OpenCV's sample does.
    cv::Rect2f r(found[i]);
    r.x += r.width * 0.1f;
    r.width *= 0.8f;
    r.y += r.height * 0.07f;
    r.height *= 0.8f;
    const float inv = static_cast<float>(1.0 / factor);
    out.push_back({"person", static_cast<float>(w),
                   cv::Rect2f(r.x * inv, r.y * inv, r.width * inv, r.height * inv), name()});
  }
  return SuppressOverlaps(std::move(out), 0.5f);
}

}  // namespace messagecorps::services
