#include "gateway/idempotency.h"

namespace messagecorps::gateway {

IdempotencyCache::IdempotencyCache(IdempotencyOptions options, Clock clock)
    : options_(options),
      clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {}

void IdempotencyCache::EvictLocked(std::chrono::steady_clock::time_point now) {
  while (!done_order_.empty()) {
    auto it = entries_.find(done_order_.front());
    const bool over = done_order_.size() > options_.max_keys;
    if (it != entries_.end() && !over && it->second.expires > now) break;
    if (it != entries_.end()) entries_.erase(it);
    done_order_.pop_front();
  }
}

IdempotencyCache::Action IdempotencyCache::Begin(const std::string& key,
                                                 const PublishCallback& done) {
  PublishResult answer;
  {
    std::lock_guard lock(mu_);
    EvictLocked(clock_());
    auto [it, inserted] = entries_.try_emplace(key);
    if (inserted) return Action::kPublish;
    if (!it->second.done) {
      it->second.waiters.push_back(done);
      return Action::kWaiting;
    }
    answer = it->second.result;
  }
  answer.duplicate = true;
  done(std::move(answer));
  return Action::kAnswered;
}

void IdempotencyCache::Complete(const std::string& key,
                                const absl::StatusOr<PublishResult>& outcome) {
  std::vector<PublishCallback> waiters;
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.done) return;
    waiters = std::move(it->second.waiters);
    if (outcome.ok()) {
      const auto now = clock_();
      it->second.done = true;
      it->second.result = *outcome;
      it->second.result.duplicate = false;
      it->second.expires = now + options_.window;
      done_order_.push_back(key);
      EvictLocked(now);
    } else {
      entries_.erase(it);
    }
  }
  for (PublishCallback& waiter : waiters) {
    if (outcome.ok()) {
      PublishResult duplicate = *outcome;
      duplicate.duplicate = true;
      waiter(std::move(duplicate));
    } else {
      waiter(outcome.status());
    }
  }
}

size_t IdempotencyCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace messagecorps::gateway
