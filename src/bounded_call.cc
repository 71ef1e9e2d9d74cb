#include "bounded_call.h"

#include <utility>

namespace messagecorps::internal {

BoundedCall::BoundedCall(std::function<rd_kafka_error_t*()> call)
    : state_(std::make_shared<State>()) {
  thread_ = std::thread([state = state_, call = std::move(call)] {
    rd_kafka_error_t* result = call();
    std::lock_guard lock(state->mu);
    state->result = result;
    state->done = true;
    state->cv.notify_all();
  });
}

BoundedCall::~BoundedCall() {
  thread_.join();
  if (state_->result != nullptr) rd_kafka_error_destroy(state_->result);
}

bool BoundedCall::WaitFor(std::chrono::milliseconds limit) {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, limit, [&] { return state_->done; });
}

rd_kafka_error_t* BoundedCall::TakeResult() {
  std::lock_guard lock(state_->mu);
  return std::exchange(state_->result, nullptr);
}

}  // namespace messagecorps::internal
