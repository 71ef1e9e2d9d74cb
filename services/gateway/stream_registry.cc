#include "gateway/stream_registry.h"

#include <thread>
#include <vector>

namespace messagecorps::gateway {

uint64_t StreamRegistry::Register(StopFn stop) {
  std::lock_guard lock(mu_);
  if (draining_) return 0;
  const uint64_t id = next_id_++;
  streams_.emplace(id, std::move(stop));
  return id;
}

void StreamRegistry::Unregister(uint64_t id) {
  std::lock_guard lock(mu_);
  streams_.erase(id);
  if (streams_.empty() && threads_ == 0) idle_cv_.notify_all();
}

bool StreamRegistry::Spawn(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    if (draining_) return false;
    ++threads_;
  }
  std::thread([this, fn = std::move(fn)] {
    fn();
    // Nothing of this thread touches `this` after the count drops: WaitIdle's caller may then
    // destroy the registry.
    std::lock_guard lock(mu_);
    if (--threads_ == 0 && streams_.empty()) idle_cv_.notify_all();
  }).detach();
  return true;
}

void StreamRegistry::Drain() {
  std::vector<StopFn> stops;
  {
    std::lock_guard lock(mu_);
    draining_ = true;
    for (auto& [id, stop] : streams_) stops.push_back(stop);
  }
  for (StopFn& stop : stops) stop();
}

bool StreamRegistry::draining() const {
  std::lock_guard lock(mu_);
  return draining_;
}

bool StreamRegistry::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return streams_.empty() && threads_ == 0; });
}

size_t StreamRegistry::streams() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

size_t StreamRegistry::threads() const {
  std::lock_guard lock(mu_);
  return threads_;
}

}  // namespace messagecorps::gateway
