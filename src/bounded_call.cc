#include "bounded_call.h"

#include <utility>

namespace messagecorps::internal {

BoundedCall::BoundedCall(std::function<rd_kafka_error_t*()> call)
    : thread_([this, call = std::move(call)] {
        rd_kafka_error_t* result = call();
        std::lock_guard lock(mu_);
        result_ = result;
        done_ = true;
        cv_.notify_all();
      }) {}

BoundedCall::~BoundedCall() {
  thread_.join();  // the thread uses this object's members until the call returns
  if (result_ != nullptr) rd_kafka_error_destroy(result_);
}

bool BoundedCall::WaitFor(std::chrono::milliseconds limit) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, limit, [this] { return done_; });
}

rd_kafka_error_t* BoundedCall::TakeResult() {
  std::lock_guard lock(mu_);
  return std::exchange(result_, nullptr);
}

}  // namespace messagecorps::internal
