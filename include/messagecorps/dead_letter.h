// messagecorps/dead_letter.h — parking records that cannot be processed in a dead-letter topic.
//
// A record that does not decode, or whose handler keeps failing, must neither block its partition
// nor be lost. DeadLetterPublisher copies it to a dead-letter topic (default `<topic>.DLQ`) exactly
// as it arrived — the ORIGINAL value bytes and key, unchanged, and the original headers — and
// appends:
//   mcorps-dlq-reason              why: "decode", "decode_limit", "handler", "publish" (see
//                                  dead_letter_reason)
//   mcorps-dlq-error               the status text (code and message) of the failure
//   mcorps-dlq-original-topic      where the record came from
//   mcorps-dlq-original-partition  its partition (decimal)
//   mcorps-dlq-original-offset     its offset (decimal)
// (names in cloud_events.h, header::kDlq*). Headers of an earlier dead-lettering stay in place;
// lookups take the last value, i.e. the newest. The value is not decoded or re-encoded, so a record
// can be replayed byte for byte (`mcorps` tools or Producer::SendEncoded).
//
// Publish waits until the broker has acknowledged the dead-letter record (or the timeout): the
// caller commits the original offset only after it returned OK, so a record is in the DLQ or still
// uncommitted in its topic — never nowhere (at-least-once).
//
// Ownership: the publisher borrows the Producer, which must outlive it. Thread-safety: Publish may
// be called concurrently (the Producer is thread-safe); counters are atomic.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "messagecorps/producer.h"

namespace messagecorps {

class Metrics;
class ReceivedMessage;

namespace dead_letter_reason {
inline constexpr std::string_view kDecode = "decode";    // the value did not decode to its type
// The record is over a DecodeLimits bound (too large, or a zlib bomb): not parsed. Raising the
// consumer's limit and replaying the dead letter recovers it. ErrorReasonName(kDecodeLimit).
inline constexpr std::string_view kDecodeLimit = "decode_limit";
inline constexpr std::string_view kHandler = "handler";  // the handler failed (after its retries)
inline constexpr std::string_view kPublish = "publish";  // a handler's output was not delivered

// The dead-letter reason for a record whose decode_status() is `status`: kDecodeLimit when the
// status carries ErrorReason::kDecodeLimit, else kDecode.
std::string_view DecodeFailureReason(const absl::Status& status);
}  // namespace dead_letter_reason

struct DeadLetterConfig {
  // Dead-letter topic = original topic + suffix (when `topic` is empty).
  std::string suffix = ".DLQ";
  // When set, every dead letter goes to this one topic (the original topic is in a header).
  std::string topic;
  // How long Publish waits for the broker's acknowledgement.
  std::chrono::milliseconds delivery_timeout{30000};
  // Counter::kDeadLettered is added per record stored. Null: none kept.
  std::shared_ptr<Metrics> metrics;
};

class DeadLetterPublisher {
 public:
  // `producer` is borrowed and must outlive the publisher.
  explicit DeadLetterPublisher(Producer& producer, DeadLetterConfig config = {});
  DeadLetterPublisher(const DeadLetterPublisher&) = delete;
  DeadLetterPublisher& operator=(const DeadLetterPublisher&) = delete;

  // The dead-letter topic for records of `original_topic`.
  std::string TopicFor(std::string_view original_topic) const;

  // Sends `record` to its dead-letter topic and waits for the acknowledgement (delivery_timeout).
  // Returns the delivery report of the dead-letter record. Errors: the send's own (see
  // Producer::SendEncoded: kResourceExhausted, kAborted, ...), the failed delivery's status
  // (KafkaError codes), or kDeadlineExceeded when no report came in time — in every error case the
  // caller must NOT commit the original record.
  absl::StatusOr<DeliveryReport> Publish(const ReceivedMessage& record, std::string_view reason,
                                         const absl::Status& error);

  // The same without waiting: the record is queued and the future yields its report (a failed
  // queueing yields a ready report carrying the error). Lets a caller dead-letter a batch and wait
  // once; the counters are updated when the report arrives.
  std::future<DeliveryReport> PublishAsync(const ReceivedMessage& record, std::string_view reason,
                                           const absl::Status& error);

  // Dead-letter records acknowledged by the broker / failed, so far.
  uint64_t published() const { return counts_->published.load(std::memory_order_relaxed); }
  uint64_t failed() const { return counts_->failed.load(std::memory_order_relaxed); }

  const DeadLetterConfig& config() const { return config_; }

 private:
  struct Counts {
    std::atomic<uint64_t> published{0};
    std::atomic<uint64_t> failed{0};
  };
  Producer& producer_;
  DeadLetterConfig config_;
  // Shared with pending delivery callbacks, which may run after the publisher is gone.
  std::shared_ptr<Counts> counts_ = std::make_shared<Counts>();
};

}  // namespace messagecorps
