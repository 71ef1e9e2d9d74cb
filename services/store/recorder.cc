#include "store/recorder.h"

namespace messagecorps::services {
namespace {

RecordKey KeyOf(const ReceivedMessage& record) {
  return {std::string(record.topic()), record.partition(), record.offset()};
}

}  // namespace

HandlerResult Recorder::Count(const absl::StatusOr<bool>& inserted) {
  if (!inserted.ok()) return inserted.status();
  (*inserted ? written_ : duplicates_).fetch_add(1);
  return std::vector<Outgoing>{};
}

HandlerResult Recorder::OnFrame(const protobuf::data::Image& image, const ReceivedMessage& record) {
  return Count(store_.PutFrame(KeyOf(record), image, keep_images_));
}

HandlerResult Recorder::OnPrediction(const protobuf::predictions::Prediction& prediction,
                                     const ReceivedMessage& record) {
  return Count(store_.PutPrediction(KeyOf(record), prediction));
}

}  // namespace messagecorps::services
