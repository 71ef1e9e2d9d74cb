#pragma once

#include <librdkafka/rdkafka.h>

#include <chrono>
#include <condition_variable>
#include <functional>
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
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  rd_kafka_error_t* result_ = nullptr;
  std::thread thread_;  // last: started once the members it uses exist
};

}  // namespace messagecorps::internal
