#include "predict/detectors/detector.h"

#include <algorithm>
#include <map>
#include <opencv2/imgproc.hpp>

namespace messagecorps::services {

std::vector<Detection> SuppressOverlaps(std::vector<Detection> detections, float iou_threshold) {
  std::stable_sort(detections.begin(), detections.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> kept;
  for (auto& d : detections) {
    bool overlaps = false;
    for (const auto& k : kept) {
      if (k.label != d.label) continue;
      const float inter = (k.box & d.box).area();
      const float uni = k.box.area() + d.box.area() - inter;
      if (uni > 0 && inter / uni > iou_threshold) {
        overlaps = true;
        break;
      }
    }
    if (!overlaps) kept.push_back(std::move(d));
  }
  return kept;
}

Letterbox MakeLetterbox(const cv::Mat& bgr, int size) {
  const int side = std::max(bgr.cols, bgr.rows);
  cv::Mat square(side, side, bgr.type(), cv::Scalar::all(0));
  bgr.copyTo(square(cv::Rect(0, 0, bgr.cols, bgr.rows)));
  Letterbox lb;
  cv::resize(square, lb.image, cv::Size(size, size), 0, 0, cv::INTER_LINEAR);
  lb.scale = static_cast<float>(side) / static_cast<float>(size);
  return lb;
}

absl::Status CheckBgr(const cv::Mat& bgr) {
  if (bgr.empty() || bgr.type() != CV_8UC3) {
    return absl::InvalidArgumentError("detector input must be a non-empty 8-bit BGR image");
  }
  return absl::OkStatus();
}

}  // namespace messagecorps::services
