// Internal: keeps librdkafka's fetcher going while a consumer drains a full local queue.
//
// Why: librdkafka (2.0.2 here; any version before 2.3) stops fetching a partition once the
// consumer's local queue holds queued.max.messages.kbytes (or queued.min.messages), and its broker
// thread only looks at the queue again when something wakes it: a socket event, an op on its queue
// or, with nothing to do, a timer up to 1 s later. A consumer slower than its fetcher (one that
// decodes each record) thus drains the queue, then idles for up to a second, once per queue-full
// (BENCHMARKS.md: 1 KiB records consumed at a fifth of raw librdkafka's rate). librdkafka 2.3 added
// fetch.queue.backoff.ms for this; its default is still 1 s.
//
// How: Poll reports the queue length (records) before it takes from the queue. Once the queue was
// seen at least half full (by records, or by value bytes estimated from the records taken), the
// fetcher has stopped or is about to; when it has then drained below a quarter, every broker that
// delivered records since the last wake-up gets a tiny request, which passes through that broker's
// thread and makes it decide again. The request is a DescribeConfigs of the broker's own
// `broker.id` (librdkafka's admin API routes a BROKER resource to that broker): asynchronous, so
// Poll never waits on it — with every broker down it just stays pending in librdkafka until its
// timeout, and at most one is pending per broker. Its answer, whatever it is (an authorization
// error included), is ignored. An earlier version woke the thread with a watermark query, which
// blocks up to socket.timeout.ms with the brokers down; this design cannot.
//
// Not thread-safe: the consumer calls it under its own mutex.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <map>

#include "rdkafka_handles.h"

namespace messagecorps::internal {

class FetchWaker {
 public:
  // `rk`: the consumer (outlives this object). `max_queue_bytes`, `max_queue_records`: its
  // queued.max.messages.kbytes (in bytes) and queued.min.messages.
  FetchWaker(rd_kafka_t* rk, int64_t max_queue_bytes, int64_t max_queue_records);

  // Before Poll takes records: the local queue's length now. Returns the wake-up requests sent.
  int BeforeTake(int64_t queued_records);
  // A record Poll took (value size for the byte estimate, broker it came from). Cheap: called per
  // record.
  void Taken(const rd_kafka_message_t& record) {
    taken_bytes_ += static_cast<int64_t>(record.len);
    ++taken_records_;
    const int32_t broker = rd_kafka_message_broker_id(&record);
    if (broker != last_broker_) {  // runs of records come from one broker: one lookup per run
      last_broker_ = broker;
      if (broker >= 0) brokers_[broker] |= kSeen;
    }
  }

 private:
  static constexpr uint8_t kSeen = 1;     // delivered records since the last wake-up
  static constexpr uint8_t kPending = 2;  // a wake-up request not answered yet

  void CollectAnswers();
  int Wake();

  rd_kafka_t* rk_;
  QueueHandle answers_;
  int64_t max_bytes_;
  int64_t max_records_;
  int64_t taken_bytes_ = 0;  // for the average value size
  int64_t taken_records_ = 0;
  int32_t last_broker_ = -1;
  bool armed_ = false;  // the queue was seen at least half full since the last wake-up
  int pending_ = 0;     // wake-up requests whose answer has not been collected
  std::map<int32_t, uint8_t> brokers_;
};

}  // namespace messagecorps::internal
