// messagecorps/consumer.h — receives records from Kafka decoded to their protobuf types.
//
// A Consumer subscribes to one or many topics in a consumer group (the group from the config, else
// $LOG_TAG_GROUP, else "NOTSET", like the original) and returns batches of ReceivedMessage: the
// record (topic, partition, offset, key, headers, timestamp) plus the value decoded to the topic's
// type (TypeRegistry; the seed topics by default), with `_message_data.offset/.partition` filled in
// as the original did. A record that does not decode is still returned, with decode_status() saying
// why and no message(): per-message outcomes are never silent (the router sends such records to a
// DLQ). Without a group, it reads an explicit list of partitions from given offsets instead
// (ConsumerConfig::assignment: no rebalancing, no commits), as `mcorps consume` does without -G.
//
// Commits (at-least-once):
//   CommitMode::kAuto   offsets of the records returned by one Poll are stored when the next
//                       Poll (or Close) is called — i.e. after you processed them — and
//                       librdkafka commits the stored offsets in the background
//                       (auto.commit.interval.ms).
//   CommitMode::kManual nothing is committed unless you call Commit/CommitAll.
// Commits only ever cover partitions this consumer still owns: a commit for a revoked partition is
// refused with kFailedPrecondition instead of racing the new owner. On revocation the offsets
// stored so far are committed synchronously before the partitions are released. The assignment
// strategy is DefaultAssignmentStrategy() unless the properties set partition.assignment.strategy.
//
// Memory: records fetched ahead are bounded by queued.max.messages.kbytes, 32 MiB by default here,
// which kept a consumer catching up on a 1M-record backlog under 140 MiB RSS (BENCHMARKS.md,
// Memory; RSS grows by ~3.5x any increase of it). A full queue stops librdkafka's fetcher for up
// to 1 s; so that a consumer slower than its fetcher does not idle:
//  - librdkafka 2.3 and later (FetchWakerNeeded() false): fetch.queue.backoff.ms defaults to 10 ms
//    here instead of librdkafka's 1000 (a property you set wins);
//  - older ones (Debian 12's 2.0.2): when Poll has drained a full queue to a quarter it wakes the
//    fetching broker thread with a small asynchronous request (DescribeConfigs of the broker's
//    broker.id, to each broker that delivered records). Counted as Counter::kFetchWakeups; an
//    authorization error on that request changes nothing.
//
// Broker outages: librdkafka reconnects with bounded back-off (reconnect.backoff.max.ms, default
// here 10 s); errors are logged and counted, not spun on silently; a fatal error is returned by
// Poll.
//
// Thread-safety: methods may be called from several threads (they serialize on an internal mutex),
// but the normal pattern is one polling thread. Assign/revoke hooks run inside Poll on that thread.
// Ownership: the Consumer and the ReceivedMessages it returned share its librdkafka handle, which
// is released when the last of them is destroyed (librdkafka needs its messages gone before the
// handle); a ReceivedMessage may therefore outlive the Consumer.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/cloud_events.h"
#include "messagecorps/codec.h"
#include "messagecorps/topic.h"
#include "messagecorps/trace_context.h"

struct rd_kafka_message_s;  // librdkafka's record (rd_kafka_message_t)
struct rd_kafka_s;          // librdkafka's client handle (rd_kafka_t)

namespace google::protobuf {
class Message;
}

namespace messagecorps {

class TypeRegistry;

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = -1001;  // RD_KAFKA_OFFSET_INVALID when not meaningful
  bool operator==(const TopicPartition&) const = default;
};

struct PartitionLag {
  std::string topic;
  int32_t partition = 0;
  int64_t position = -1;        // next offset this consumer will read (-1: none yet)
  int64_t committed = -1;       // committed offset of the group (-1: none)
  int64_t low = -1, high = -1;  // watermarks
  int64_t lag = -1;             // high - max(position, committed), -1 when unknown
};

// Start offsets of ConsumerConfig::assignment besides absolute offsets (>= 0); librdkafka's
// logical offsets.
inline constexpr int64_t kOffsetBeginning = -2;  // the oldest record still kept
inline constexpr int64_t kOffsetEnd = -1;        // only records produced from now on
// `n` records before the end (kcat's -o -N); n >= 0.
constexpr int64_t OffsetFromEnd(int64_t n) { return -2000 - n; }

enum class StartOffset { kLatest, kEarliest };
enum class CommitMode { kAuto, kManual };

// What a consumer does beyond the client configuration every client shares (ClientConfig): what
// it reads, in which group, from where, how it commits and decodes. Separate from ConsumerConfig so
// that a Router (router.h) takes one ClientConfig for all its clients plus these.
struct ConsumerOptions {
  std::vector<std::string> topics;
  std::string group_id;                      // empty: $LOG_TAG_GROUP, else "NOTSET"
  StartOffset start = StartOffset::kLatest;  // where a group without committed offsets begins
  CommitMode commit = CommitMode::kAuto;
  // Topic -> type. Null: the seed defaults (VideoStream -> Image, Predictions -> Prediction).
  // Not owned: must outlive the consumer.
  const TypeRegistry* registry = nullptr;
  DecodeLimits limits;
  // Most records one Poll returns.
  int max_batch = 500;
  // Called inside Poll when partitions are added / are about to be taken away.
  std::function<void(const std::vector<TopicPartition>&)> on_assign;
  std::function<void(const std::vector<TopicPartition>&)> on_revoke;
  // Decode values at all (false: raw records only, e.g. for byte-level tools).
  bool decode = true;
  // Reading without a group (kcat's default, `mcorps consume` without -G): when not empty, the
  // consumer reads exactly these partitions, each from its `offset` (absolute, kOffsetBeginning,
  // kOffsetEnd or OffsetFromEnd(n)), through librdkafka's assign() instead of subscribe(): it never
  // joins the group, never rebalances and never commits (Commit/CommitAll return
  // kFailedPrecondition; `commit`, `on_assign` and `on_revoke` are ignored; `start` says where an
  // absolute offset that is out of range goes). `topics` may then be empty (every topic listed
  // must have a partition here). Timestamps: OffsetsForTimes (offsets.h).
  std::vector<TopicPartition> assignment;
};

// Everything a Consumer is built from: the shared client configuration and the consumer's own
// options. `ConsumerConfig{client, options}` joins the two.
struct ConsumerConfig : ClientConfig, ConsumerOptions {};

// The partition assignment strategy a Consumer uses unless ClientConfig::properties sets
// "partition.assignment.strategy": "cooperative-sticky" (incremental rebalancing) with librdkafka
// 2.10 or later, "range" (eager: every member gives its partitions back, and commits, before it
// rejoins) with older ones, such as Debian 12's 2.0.2.
// Why: before 2.10, librdkafka treats a commit answered ILLEGAL_GENERATION during a cooperative
// rebalance as a lost assignment (librdkafka issue #4059, fixed by PR #4908): the member drops
// its partitions and rereads them from the last accepted commit. A member commits while the other
// members rejoin, so nearly every rebalance hit it: consumer_group_test's churn case (a third
// member joining and leaving under load) processed 126-532 of ~8,000 records twice. With eager
// assignment no commit carries a stale generation: 0 duplicates, 0 refused commits.
// From 2.10 on, members keep their partitions through a cooperative rebalance and keep committing;
// Kafka refuses a commit sent while the generation changes (REBALANCE_IN_PROGRESS,
// ILLEGAL_GENERATION), so Commit/CommitAll (synchronous) send it again until it is accepted, for
// up to 10 s: on 2.14.2 the churn case saw 2 refused commits per run before that retry, 0 after.
std::string DefaultAssignmentStrategy();

// Whether the loaded librdkafka needs the fetch waker (see Memory above): true before 2.3.
bool FetchWakerNeeded();

// Whether Poll may always take queued records in one batch call (rd_kafka_consume_batch_queue):
// true from librdkafka 2.1.0, which fixed the batch call skipping records that a rebalance, pause
// or seek purged during the call (PR #4208). Before, Poll takes one record at a time whenever
// that can happen (cooperative strategy, after Pause/Resume/Seek): about a third of the batch
// call's rate for small records (BENCHMARKS.md, raw/one-per-poll).
bool BatchPollAlwaysSafe();

class MessagePool;
class Consumer;
namespace internal {
struct ReceivedMessageAccess;
// src/consumer_group_handle.h: the producer's transactional offset commit reads the consumer's
// group metadata through it.
rd_kafka_s* GroupHandleOf(const Consumer& consumer);
struct LocalRecord;  // a record made by testing.h (no librdkafka message)

// The owning handles of a ReceivedMessage. Each deleter keeps what it needs alive: the consumer's
// state (its librdkafka handle, its message pool), because librdkafka needs its messages destroyed
// before its handle. So the handle lives until the last record is gone, whatever the order of
// moves and destruction.
struct RecordDeleter {
  std::shared_ptr<void> client;
  void operator()(rd_kafka_message_s* record) const;
};
struct LocalRecordDeleter {
  void operator()(LocalRecord* record) const;
};
struct MessageReturn {
  std::shared_ptr<void> client;  // keeps `pool` alive
  MessagePool* pool = nullptr;   // null: not pooled, deleted
  void operator()(google::protobuf::Message* message) const;
};
}  // namespace internal

// One received record. Move-only (rule of zero: its parts are owning handles).
// Allocation: the decoded message object comes from a pool of its Consumer and goes back to it
// when the ReceivedMessage is destroyed (on any thread), cleared but with its string and
// sub-message storage kept, so that parsing the next record of that type allocates nothing.
// Only messages decoded from at most kMaxPooledMessageBytes are pooled, at most
// kMaxPooledMessages per type (so the pool holds at most 16 MiB per type). release_message()
// takes the message out of that cycle.
// Records made without a broker, for unit tests of handlers and middleware: testing.h.
class ReceivedMessage {
 public:
  std::string_view topic() const;
  int32_t partition() const;
  int64_t offset() const;
  std::optional<std::string_view> key() const;
  std::string_view value() const;
  int64_t timestamp_ms() const;  // record timestamp (CreateTime), -1 if none
  Headers headers() const;       // copies every header
  std::optional<std::string_view> header(std::string_view key) const;  // last value, no copy

  // The encoding the value was decoded with: detected from the content; the mcorps-encoding
  // header decides only when the bytes allow two encodings (codec.h, EncodingAmbiguous).
  // Headers are read from the record only when asked for (headers(), header()) or needed to
  // decode: decoding reads the type from `_message_data.type` in the value, and a header only
  // for a type without an envelope, a record without a type in it (the original's), an
  // ambiguous encoding, or a trace the envelope lacks.
  Encoding encoding() const { return encoding_; }
  // OK, or why the value could not be decoded (kInvalidArgument: malformed; kNotFound: no type
  // bound to the topic; kResourceExhausted: over DecodeLimits). GetErrorReason (error.h) tells
  // which: kMalformedRecord, kWrongType, kNoTypeBound, kDecodeLimit.
  const absl::Status& decode_status() const { return decode_status_; }
  // The decoded message (with offset/partition filled), or nullptr when decoding failed.
  const google::protobuf::Message* message() const { return message_.get(); }
  google::protobuf::Message* mutable_message() { return message_.get(); }
  // Takes the decoded message out (it is then not returned to the pool).
  std::unique_ptr<google::protobuf::Message> release_message() {
    return std::unique_ptr<google::protobuf::Message>(message_.release());
  }
  // The decoded message as T, or nullptr when it is not a T (or did not decode).
  template <ProtoMessage T>
  const T* As() const {
    return dynamic_cast<const T*>(message_.get());
  }
  // The trace of this record: from `_message_data` (trace_id, span_id) when present, else from the
  // traceparent header, else empty.
  const TraceContext& trace() const { return trace_; }

 private:
  friend struct internal::ReceivedMessageAccess;
  ReceivedMessage() = default;

  std::unique_ptr<rd_kafka_message_s, internal::RecordDeleter> record_;
  std::unique_ptr<internal::LocalRecord, internal::LocalRecordDeleter> local_;
  std::unique_ptr<google::protobuf::Message, internal::MessageReturn> message_;
  absl::Status decode_status_;
  Encoding encoding_ = Encoding::kRaw;
  TraceContext trace_;
};

inline constexpr size_t kMaxPooledMessageBytes = 16 * 1024;
inline constexpr size_t kMaxPooledMessages = 1024;

class Consumer {
 public:
  // Builds the consumer and subscribes (or assigns ConsumerConfig::assignment). kInvalidArgument
  // for misconfiguration (no topics, bad property, no brokers, a negative partition or an
  // invalid start offset in the assignment). It does not wait for the broker.
  static absl::StatusOr<std::unique_ptr<Consumer>> Create(ConsumerConfig config);
  ~Consumer();  // Close(10 s) if not closed
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Waits up to `timeout` for records; returns at most max_batch (possibly none). In kAuto mode it
  // first stores the offsets of the previous batch. Errors: kFailedPrecondition after Close;
  // kAborted on a fatal client error. Transient broker errors are logged, not returned.
  absl::StatusOr<std::vector<ReceivedMessage>> Poll(std::chrono::milliseconds timeout);

  // Commits `message.offset() + 1` for its partition (kManual mode, or to commit early in kAuto).
  // kFailedPrecondition if the partition is no longer assigned to this consumer, or when the
  // consumer reads an explicit assignment (no group: nothing to commit to).
  absl::Status Commit(const ReceivedMessage& message, bool async = false);
  // Commits explicit positions (offset = next offset to read).
  absl::Status Commit(const std::vector<TopicPartition>& offsets, bool async = false);
  // Commits the position after everything returned so far, for the partitions still owned.
  absl::Status CommitAll(bool async = false);

  // Partitions currently assigned.
  std::vector<TopicPartition> Assignment() const;
  // True when partitions are assigned and every one has been read to its end (as of the last Poll);
  // what `mcorps consume -e` waits for.
  bool ReachedEnd() const;
  // Position, committed offset, watermarks and lag per assigned partition (queries the broker).
  absl::StatusOr<std::vector<PartitionLag>> Lag(std::chrono::milliseconds timeout);
  // Stops / restarts fetching for these partitions (empty: all assigned).
  absl::Status Pause(const std::vector<TopicPartition>& partitions = {});
  absl::Status Resume(const std::vector<TopicPartition>& partitions = {});
  // Moves the next read position of an assigned partition.
  // `timeout` 0: do not wait for the partition's fetcher (which waits for a partition leader that
  // is down); the seek still takes effect before the partition's next record is returned.
  absl::Status Seek(const TopicPartition& position, std::chrono::milliseconds timeout);

  // Leaves the group (committing stored offsets in kAuto mode) and stops consuming. Always returns
  // within `timeout`: kDeadlineExceeded if the group could not be left cleanly in time (e.g. the
  // broker is down); the consumer is closed either way. The librdkafka handle is released once no
  // ReceivedMessage of this consumer is alive any more. Idempotent.
  absl::Status Close(std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& group_id() const;

 private:
  friend struct internal::ReceivedMessageAccess;
  friend rd_kafka_s* internal::GroupHandleOf(const Consumer& consumer);
  struct Impl;
  explicit Consumer(std::shared_ptr<Impl> impl);
  // Shared with every ReceivedMessage: librdkafka requires all its messages to be destroyed before
  // the client handle, so the handle is released when the last of them is gone.
  std::shared_ptr<Impl> impl_;
};

}  // namespace messagecorps
