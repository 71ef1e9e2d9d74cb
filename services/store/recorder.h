// The store's handlers: each frame/prediction record becomes rows (store.h). Plain functions over
// a Store, run by the library's Router in mcorps-store (or directly in tests).
#pragma once

#include <atomic>
#include <cstdint>

#include "messagecorps/router.h"
#include "store/store.h"

namespace messagecorps::services {

class Recorder {
 public:
  Recorder(Store& store, bool keep_images) : store_(store), keep_images_(keep_images) {}

  // Errors: the store's (kUnavailable is retriable: the Retry middleware tries again).
  HandlerResult OnFrame(const protobuf::data::Image& image, const ReceivedMessage& record);
  HandlerResult OnPrediction(const protobuf::predictions::Prediction& prediction,
                             const ReceivedMessage& record);

  uint64_t written() const { return written_.load(); }
  uint64_t duplicates() const { return duplicates_.load(); }

 private:
  HandlerResult Count(const absl::StatusOr<bool>& inserted);

  Store& store_;
  bool keep_images_;
  std::atomic<uint64_t> written_{0}, duplicates_{0};
};

}  // namespace messagecorps::services
