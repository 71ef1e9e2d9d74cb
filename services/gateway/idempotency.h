// Idempotent publish: a retried publish with the same key returns the first one's result and
// produces nothing new.
//
// A key's first publish is remembered from the moment it starts: a retry arriving while it is still
// in flight waits for it and gets the same outcome; a retry after it was acknowledged gets its
// result at once (marked duplicate). A publish that failed is forgotten, so a retry publishes anew.
// This sits on top of the idempotent acks=all producer, which removes duplicates librdkafka's own
// retries would cause; the cache removes those of the client's retries.
//
// Bounds: a result is kept for `window` after it was acknowledged, and at most `max_keys` results
// are kept (the oldest goes first); ~200 bytes each plus the key. After either bound, a retry with
// that key publishes a new record: delivery becomes at-least-once again. The cache lives in one
// gateway process: a retry sent to another replica, or after a restart, is not recognized.
//
// Thread-safety: every method may be called from any thread; callbacks are called without the lock.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/publisher.h"

namespace messagecorps::gateway {

struct IdempotencyOptions {
  std::chrono::milliseconds window{std::chrono::minutes(10)};
  size_t max_keys = 100000;
};

class IdempotencyCache {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit IdempotencyCache(IdempotencyOptions options, Clock clock = nullptr);

  enum class Action {
    kPublish,   // first time: publish, then call Complete(key, outcome)
    kAnswered,  // already acknowledged: `done` was called with the first result (duplicate=true)
    kWaiting,   // the first is in flight: `done` will be called with its outcome
  };
  Action Begin(const std::string& key, const PublishCallback& done);

  // The first publish of `key` ended. OK: remembered for the window, waiters get the result
  // (duplicate=true); an error: forgotten, waiters get the error.
  void Complete(const std::string& key, const absl::StatusOr<PublishResult>& outcome);

  size_t size() const;

 private:
  struct Entry {
    bool done = false;
    PublishResult result;
    std::vector<PublishCallback> waiters;
    std::chrono::steady_clock::time_point expires;
  };
  void EvictLocked(std::chrono::steady_clock::time_point now);

  const IdempotencyOptions options_;
  const Clock clock_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
  std::list<std::string> done_order_;  // acknowledged keys, oldest first
};

}  // namespace messagecorps::gateway
