// The producer side of the Router's exactly-once mode (router.h, "Exactly-once"): a
// transactional producer and the dead-letter publisher over it, one transaction per batch, and
// what to do when a transaction fails — retry a call, abort and redo, or replace the producer.
// Internal to the library: the Router is its only user.
#pragma once

#include <spdlog/logger.h>

#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "messagecorps/consumer.h"
#include "messagecorps/dead_letter.h"
#include "messagecorps/producer.h"
#include "messagecorps/router.h"

namespace messagecorps::internal {

class RouterTransactions {
 public:
  RouterTransactions(ProducerConfig producer, DeadLetterConfig dead_letter,
                     ExactlyOnceConfig config, spdlog::logger& logger);

  // Builds the producer and initialises its transactions (fencing an earlier instance with the
  // same transactional id and aborting what it left open). Retries retriable errors up to
  // ExactlyOnceConfig::init_timeout in all.
  absl::Status Start();

  // Valid after Start; a renewal replaces both (take them again per batch).
  Producer& producer() { return *producer_; }
  DeadLetterPublisher& dead_letters() { return *dead_letters_; }

  absl::Status Begin();
  // Sends the input positions (`next`: next offset per partition) with `consumer`'s group metadata
  // and commits. A retriable error (timeout, coordinator moving) is tried once more per call.
  absl::Status Commit(const std::vector<TopicPartition>& next, const Consumer& consumer);
  // Ends the open transaction without committing it, after `why` went wrong (`in_commit`: `why`
  // came from Commit). When Commit kept timing out (the coordinator does not answer), the
  // producer is replaced instead: the new one, with the same transactional id, fences the old one
  // and aborts its transaction. `renewed` tells which. Error: the producer is unusable (e.g.
  // fenced by a newer instance) — stop.
  absl::Status Abort(const absl::Status& why, bool in_commit, bool& renewed);

 private:
  absl::Status Renew();

  ProducerConfig producer_config_;
  DeadLetterConfig dead_letter_config_;
  ExactlyOnceConfig config_;
  spdlog::logger& logger_;
  // The publisher borrows the producer: destroyed first.
  std::unique_ptr<Producer> producer_;
  std::unique_ptr<DeadLetterPublisher> dead_letters_;
};

}  // namespace messagecorps::internal
