#include "predict/predictor.h"

#include <chrono>

#include "absl/strings/str_join.h"
#include "common/frame_codec.h"

namespace messagecorps::services {

using protobuf::data::Image;
using protobuf::predictions::Prediction;

Predictor::Predictor(std::vector<std::unique_ptr<Detector>> detectors, Topic<Prediction> output,
                     SkipPolicy skip, std::shared_ptr<Metrics> metrics)
    : detectors_(std::move(detectors)),
      output_(std::move(output)),
      skip_(skip),
      metrics_(std::move(metrics)) {}

std::string Predictor::model_name() const {
  std::vector<std::string> names;
  for (const auto& d : detectors_) names.push_back(d->name());
  return absl::StrJoin(names, "+");
}

absl::StatusOr<Prediction> Predictor::Predict(const Image& image) {
  auto bgr = DecodeFrame(image);
  if (!bgr.ok()) return bgr.status();
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Detection> all;
  for (const auto& detector : detectors_) {
    auto found = detector->Detect(*bgr);
    if (!found.ok()) return found.status();
    all.insert(all.end(), found->begin(), found->end());
  }
  all = SuppressOverlaps(std::move(all), 0.5f);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  inference_ms_.Add(ms);

  Prediction p;
  p.set_frame(image.frame());
  p.set_model_name(model_name());
  p.set_inference_ms(ms);
  p.set_frame_width(bgr->cols);
  p.set_frame_height(bgr->rows);
  for (const Detection& d : all) {
    p.add_object(d.label);
    auto* out = p.add_detections();
    out->set_label(d.label);
    out->set_score(d.score);
    out->set_model(d.model);
    out->mutable_box()->set_x(d.box.x);
    out->mutable_box()->set_y(d.box.y);
    out->mutable_box()->set_width(d.box.width);
    out->mutable_box()->set_height(d.box.height);
  }
  return p;
}

bool Predictor::ShouldSkip(const Image& image) {
  if (!skip_.enabled || image.capture_time() <= 0) return false;
  double& newest = newest_capture_[image.source()];
  if (image.capture_time() < newest) return true;  // a newer frame was handled already
  if (skip_.max_frame_age_s > 0) {
    const double now =
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (now - image.capture_time() > skip_.max_frame_age_s) return true;
  }
  newest = image.capture_time();
  return false;
}

HandlerResult Predictor::Handle(const Image& image, const ReceivedMessage& record) {
  if (ShouldSkip(image)) {
    skipped_.fetch_add(1);
    if (metrics_) metrics_->Add(Counter::kSkipped);
    return std::vector<Outgoing>{};
  }
  auto prediction = Predict(image);
  if (!prediction.ok()) return prediction.status();
  prediction->set_source_trace_id(std::string(record.trace().trace_id()));
  prediction->set_source_topic(std::string(record.topic()));
  prediction->set_source_partition(record.partition());
  prediction->set_source_offset(record.offset());
  predicted_.fetch_add(1);
  predictions_.Add();
  std::vector<Outgoing> out;
  out.push_back(Outgoing::Of(output_, std::move(*prediction)));
  return out;
}

}  // namespace messagecorps::services
