#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace messagecorps::internal {

// Runs one blocking librdkafka call that returns an rd_kafka_error_t* on a thread of its own, for
// the calls librdkafka does not bound by their own timeout (Producer::SendOffsetsToTransaction:
// librdkafka #5456). The caller waits at most as long as it chooses; when it stops waiting the call
// goes on, and whatever the call uses (the rd_kafka_t) must outlive this object, whose destructor
// waits for the call to return.
class BoundedCall {
 public:
  explicit BoundedCall(std::function<rd_kafka_error_t*()> call);
  ~BoundedCall();
  BoundedCall(const BoundedCall&) = delete;
  BoundedCall& operator=(const BoundedCall&) = delete;

  // Whether the call returned within `limit`.
  bool WaitFor(std::chrono::milliseconds limit);
  // The call's result once it returned (WaitFor true); the caller owns it. Null for success.
  rd_kafka_error_t* TakeResult();

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    rd_kafka_error_t* result = nullptr;
  };
  std::shared_ptr<State> state_;
  std::thread thread_;
};

}  // namespace messagecorps::internal
