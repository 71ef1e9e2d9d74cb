// messagecorps/offsets.h — finding where to start reading: offsets by timestamp.
//
// For reading from a point in time (`mcorps consume -o @TIMESTAMP_MS`, `mcorps trace --since`):
// ask the partition leaders for the first offset whose record timestamp is at or after a time,
// then read from there with ConsumerConfig::assignment (consumer.h).
//
// Thread-safety: may be called from any thread. Each call builds (and destroys) its own short-lived
// librdkafka client from `config`, so it is meant for start-up, not for a hot path.
#pragma once

#include <chrono>
#include <vector>

#include "absl/status/statusor.h"
#include "messagecorps/client_config.h"
#include "messagecorps/consumer.h"

namespace messagecorps {

// For each entry of `query` (its `offset` holding a timestamp in Unix milliseconds), the earliest
// offset whose record timestamp is >= that time, in the same order; kOffsetEnd for a partition with
// no record that recent. The result can be used as ConsumerConfig::assignment as is.
// Errors: kInvalidArgument (bad config, an empty query, a negative timestamp or partition),
// kDeadlineExceeded / kUnavailable (the leaders did not answer within `timeout`), kNotFound
// (unknown topic or partition), or the broker's error (e.g. a broker too old for timestamps: the
// caller may fall back to reading from the beginning).
absl::StatusOr<std::vector<TopicPartition>> OffsetsForTimes(const ClientConfig& config,
                                                            std::vector<TopicPartition> query,
                                                            std::chrono::milliseconds timeout);

}  // namespace messagecorps
