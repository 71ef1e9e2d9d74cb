// messagecorps/seed_topics.h — the original MessageCorps topics, typed.
//
//   VideoStream -> protobuf.data.Image            (seed encoding)
//   Predictions -> protobuf.predictions.Prediction (seed encoding)
// The same map is the TypeRegistry's built-in default.
#pragma once

#include "messagecorps/topic.h"
#include "protobuf/data/ImageData.pb.h"
#include "protobuf/predictions/Prediction.pb.h"

namespace messagecorps::seed {

inline constexpr const char* kVideoStream = "VideoStream";
inline constexpr const char* kPredictions = "Predictions";

inline Topic<protobuf::data::Image> VideoStream(TopicOptions options = {}) {
  return Topic<protobuf::data::Image>(kVideoStream, std::move(options));
}
inline Topic<protobuf::predictions::Prediction> Predictions(TopicOptions options = {}) {
  return Topic<protobuf::predictions::Prediction>(kPredictions, std::move(options));
}

}  // namespace messagecorps::seed
