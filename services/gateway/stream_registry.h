// The gateway's open streams and the threads that serve them, so that a drain can end every stream
// and wait until they are gone.
//
// A stream registers a stop function (called at most once, by Drain or by nobody); a worker thread
// is started with Spawn and counted until its function returns. Drain() calls every registered
// stop function (streams then finish cleanly: UNAVAILABLE with a resume token) and refuses new
// registrations; WaitIdle waits for the streams to unregister and the threads to end.
//
// Thread-safety: every method may be called from any thread. Stop functions are called without
// the registry's lock held, so they may unregister.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>

namespace messagecorps::gateway {

class StreamRegistry {
 public:
  using StopFn = std::function<void()>;

  // An id for Unregister, or 0 when draining (the caller should refuse the stream: UNAVAILABLE).
  uint64_t Register(StopFn stop);
  void Unregister(uint64_t id);

  // Runs `fn` on a new detached thread, counted until it returns. False (and `fn` not run) when
  // draining.
  bool Spawn(std::function<void()> fn);

  // Stops every registered stream; later Register/Spawn calls are refused.
  void Drain();
  bool draining() const;

  // Waits until no stream is registered and no spawned thread runs, or `timeout`. True when idle.
  bool WaitIdle(std::chrono::milliseconds timeout);

  size_t streams() const;
  size_t threads() const;

 private:
  mutable std::mutex mu_;
  std::condition_variable idle_cv_;
  std::map<uint64_t, StopFn> streams_;
  uint64_t next_id_ = 1;
  size_t threads_ = 0;
  bool draining_ = false;
};

}  // namespace messagecorps::gateway
