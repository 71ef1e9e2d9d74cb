// One subscriber's view of a topic, for both front ends (gRPC Subscribe and SSE): a Consumer of its
// own, where it starts, the resume token of every record it delivers, and (in a group) commits.
//
// Fan-out (no group): the consumer reads every partition of the topic from explicit offsets, with
// no group and no commits; every subscriber sees every record. Start positions are resolved to
// absolute offsets at open time (latest: the high watermarks then; earliest: the low ones; a
// timestamp: the broker's offsets-for-times), so the first record already carries a token naming
// every partition. A resume token continues exactly after the record it came with; partitions it
// does not name (added later) start at their beginning. An offset that is no longer kept
// (retention) moves to the oldest kept record.
// Group: the consumer joins `group`; partitions without a committed offset start at the given
// position (latest or earliest). Delivered positions are committed after the front end wrote the
// records (MarkWritten): at-least-once towards the gateway; a client that needs at-least-once
// processing uses acknowledgements (SubscribeAcked, MarkCommittable). A resume token overrides
// the committed offset of each partition it names, once, when that partition is first assigned to
// this subscription (records fetched from the committed offset before the seek are dropped).
//
// Memory: the consumer prefetches at most `fetch_kbytes` per partition (queued.max.messages.kbytes)
// and one fetch response; records are handed out in batches of at most `max_batch`.
//
// Thread-safety: Next and Close are called by one thread (the stream's); MarkWritten and Token may
// be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/resume_token.h"
#include "messagecorps/client_config.h"
#include "messagecorps/codec.h"
#include "messagecorps/consumer.h"
#include "messagecorps/type_registry.h"

namespace messagecorps::gateway {

class TopicCatalog;

struct SubscribeSpec {
  enum class Start { kLatest, kEarliest, kTimestamp, kOffsets, kToken };
  std::string topic;
  std::string group;  // "" for fan-out
  Start start = Start::kLatest;
  int64_t timestamp_ms = 0;            // kTimestamp
  std::map<int32_t, int64_t> offsets;  // kOffsets: partition -> first offset
  std::string resume_token;            // kToken
};

// Gateway-wide settings every subscription is built with.
struct SubscriptionContext {
  TopicCatalog* catalog = nullptr;
  const ResumeTokenCodec* tokens = nullptr;
  ClientConfig client;     // brokers, -X properties, logger (no statistics)
  int fetch_kbytes = 512;  // prefetch bound per partition
  int max_batch = 256;
  DecodeLimits limits;
  std::chrono::milliseconds request_timeout{5000};  // watermarks, offsets-for-times
};

// A record with the token that resumes right after it.
struct Delivery {
  ReceivedMessage record;
  std::string resume_token;
};

class Subscription {
 public:
  // Resolves the topic and the start and creates the consumer. Errors: those of
  // TopicCatalog::Resolve; kInvalidArgument for a bad spec (a partition the topic does not have, a
  // negative offset or timestamp, a start other than latest/earliest in a group, a bad resume
  // token, a group token on a fan-out subscription or the reverse); kUnavailable when watermarks
  // or offsets could not be read in time.
  static absl::StatusOr<std::unique_ptr<Subscription>> Open(const SubscribeSpec& spec,
                                                            const SubscriptionContext& context);
  ~Subscription();  // Close()

  // Waits up to `timeout` for the first record and returns what is ready (possibly nothing).
  // Commits positions marked written since the last call first (group only). Errors: kAborted
  // (fatal consumer error), kFailedPrecondition after Close.
  absl::StatusOr<std::vector<Delivery>> Next(std::chrono::milliseconds timeout);

  // Group: commits what MarkWritten / MarkCommittable allowed since the last commit (Next does this
  // first too). Called by the stream's thread, like Next.
  void CommitPending();

  // The front end wrote the record at `offset` of `partition` (group: it is committed by the next
  // Next call; fan-out: nothing to do).
  void MarkWritten(int32_t partition, int64_t offset);
  // Group: commit `partition` up to (not including) `next_offset` with the next Next call (what
  // acknowledgements allow: AckTracker::TakeCommittable).
  void MarkCommittable(int32_t partition, int64_t next_offset);
  // Group: partitions taken away by rebalances since the last call.
  std::vector<int32_t> TakeRevoked();

  // The token after every record Next returned so far.
  std::string Token() const;

  const TopicBinding& binding() const { return *binding_; }
  const std::string& topic() const { return spec_.topic; }
  bool group() const { return !spec_.group.empty(); }

  // Leaves the group (if any) and releases the consumer; bounded by `timeout`.
  void Close(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  Subscription(SubscribeSpec spec, const SubscriptionContext& context, const TopicBinding* binding);

  const SubscribeSpec spec_;
  const SubscriptionContext& context_;
  const TopicBinding* binding_;
  std::unique_ptr<Consumer> consumer_;

  mutable std::mutex mu_;
  ResumePosition position_;               // next offset per partition delivered so far
  std::map<int32_t, int64_t> to_commit_;  // partition -> next offset, written, not committed
  // Group + resume token: where the token puts each partition, applied when it is first assigned.
  std::map<int32_t, int64_t> token_seeks_;
  std::vector<int32_t> assigned_now_;  // filled by on_assign inside Poll
  std::vector<int32_t> revoked_;       // filled by on_revoke inside Poll
};

}  // namespace messagecorps::gateway
