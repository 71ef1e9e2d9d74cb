// Acknowledgements of one subscription stream (gRPC SubscribeAcked, SSE with ack=true): which
// delivered records the client has not acknowledged yet, when to deliver one again, and how far
// each partition may be committed.
//
// Records are delivered in offset order per partition. A partition's commit position advances
// over its acknowledged records from the oldest one on and stops at the first unacknowledged one:
// offsets are committed only up to the highest contiguous acknowledged record, so a restart (of the
// client or of the gateway) redelivers exactly what was not acknowledged. A record not
// acknowledged within `ack_timeout` is delivered again (its delivery count goes up). At most
// `max_unacked` records and `max_unacked_bytes` bytes are unacknowledged at a time: past either
// bound HasRoom() is false and the stream stops taking records from Kafka (it pauses; nothing is
// dropped). Memory: the unacknowledged records themselves (for redelivery), within those bounds.
//
// Payload: what the front end needs to deliver a record again (gRPC: the Record message; SSE: the
// event's data). Thread-compatible: the stream guards it with its own lock.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace messagecorps::gateway {

struct AckOptions {
  size_t max_unacked = 1000;
  size_t max_unacked_bytes = 16u << 20;
  std::chrono::milliseconds ack_timeout{30000};
};

template <class Payload>
class AckTracker {
 public:
  using Clock = std::function<std::chrono::steady_clock::time_point()>;
  explicit AckTracker(AckOptions options, Clock clock = nullptr)
      : options_(options),
        clock_(clock ? std::move(clock) : [] { return std::chrono::steady_clock::now(); }) {}

  // A record handed to the client for the first time.
  void Delivered(int32_t partition, int64_t offset, Payload payload, size_t bytes) {
    Entry& e = partitions_[partition][offset];
    if (e.deliveries == 0) {
      ++count_;
      bytes_ += bytes;
    }
    e.payload = std::move(payload);
    e.bytes = bytes;
    e.deliveries = std::max<uint32_t>(e.deliveries, 1);
    e.deadline = clock_() + options_.ack_timeout;
  }

  // True when the record was outstanding (false: unknown, already acknowledged, or forgotten).
  bool Ack(int32_t partition, int64_t offset) {
    auto p = partitions_.find(partition);
    if (p == partitions_.end()) return false;
    auto it = p->second.find(offset);
    if (it == p->second.end() || it->second.acked) return false;
    it->second.acked = true;
    --count_;
    bytes_ -= it->second.bytes;
    it->second.payload = Payload();  // no longer needed for redelivery
    // Advance the commit position over the acknowledged prefix.
    while (!p->second.empty() && p->second.begin()->second.acked) {
      committable_[partition] = p->second.begin()->first + 1;
      p->second.erase(p->second.begin());
    }
    return true;
  }

  bool HasRoom() const {
    return count_ < options_.max_unacked && bytes_ < options_.max_unacked_bytes;
  }
  // How many more records may be delivered now (0 when !HasRoom()).
  size_t Room() const { return HasRoom() ? options_.max_unacked - count_ : 0; }

  struct Redelivery {
    int32_t partition;
    int64_t offset;
    uint32_t delivery_count;
    Payload payload;
  };
  // Records whose acknowledgement is overdue, in offset order per partition, each counted as
  // delivered once more (its timer restarts).
  std::vector<Redelivery> TakeExpired() {
    std::vector<Redelivery> out;
    const auto now = clock_();
    for (auto& [partition, records] : partitions_) {
      for (auto& [offset, e] : records) {
        if (e.acked || e.deadline > now) continue;
        ++e.deliveries;
        e.deadline = now + options_.ack_timeout;
        out.push_back({partition, offset, e.deliveries, e.payload});
        ++redeliveries_;
      }
    }
    return out;
  }

  // partition -> next offset to commit, for partitions that advanced since the last call.
  std::map<int32_t, int64_t> TakeCommittable() { return std::exchange(committable_, {}); }

  // Partitions this stream no longer owns (a rebalance): their records are forgotten; the new
  // owner delivers from the group's committed offset.
  void Forget(const std::vector<int32_t>& partitions) {
    for (int32_t p : partitions) {
      auto it = partitions_.find(p);
      if (it == partitions_.end()) continue;
      for (const auto& [offset, e] : it->second) {
        if (!e.acked) {
          --count_;
          bytes_ -= e.bytes;
        }
      }
      partitions_.erase(it);
      committable_.erase(p);
    }
  }

  size_t outstanding() const { return count_; }
  size_t outstanding_bytes() const { return bytes_; }
  uint64_t redeliveries() const { return redeliveries_; }

 private:
  struct Entry {
    Payload payload{};
    size_t bytes = 0;
    uint32_t deliveries = 0;
    bool acked = false;
    std::chrono::steady_clock::time_point deadline;
  };
  const AckOptions options_;
  const Clock clock_;
  std::map<int32_t, std::map<int64_t, Entry>> partitions_;
  std::map<int32_t, int64_t> committable_;
  size_t count_ = 0, bytes_ = 0;
  uint64_t redeliveries_ = 0;
};

}  // namespace messagecorps::gateway
