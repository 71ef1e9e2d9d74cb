#include "fetch_waker.h"

#include <string>

namespace messagecorps::internal {

namespace {
// How long librdkafka keeps a wake-up request that cannot be sent (its broker is down) before it
// answers with a timeout; while one is pending, that broker gets no other.
constexpr int kRequestTimeoutMs = 10000;
}  // namespace

FetchWaker::FetchWaker(rd_kafka_t* rk, int64_t max_queue_bytes, int64_t max_queue_records)
    : rk_(rk),
      answers_(rd_kafka_queue_new(rk)),
      max_bytes_(max_queue_bytes),
      max_records_(max_queue_records) {}

int FetchWaker::BeforeTake(int64_t queued_records) {
  CollectAnswers();
  // Value bytes in the queue, estimated from the average value taken so far (librdkafka counts
  // value bytes against queued.max.messages.kbytes).
  const int64_t queued_bytes =
      taken_records_ > 0 ? queued_records * (taken_bytes_ / taken_records_) : 0;
  if (taken_records_ > (int64_t{1} << 20)) {  // let the average follow a change of record size
    taken_bytes_ /= 2;
    taken_records_ /= 2;
  }
  if (queued_records * 2 >= max_records_ || queued_bytes * 2 >= max_bytes_) {
    armed_ = true;
  } else if (armed_ && queued_records * 4 < max_records_ && queued_bytes * 4 < max_bytes_) {
    return Wake();
  }
  return 0;
}

void FetchWaker::CollectAnswers() {
  // Nothing pending (nearly always): no queue poll, which takes librdkafka's queue lock, per Poll.
  while (pending_ > 0) {
    rd_kafka_event_t* raw = rd_kafka_queue_poll(answers_.get(), 0);
    if (raw == nullptr) break;
    EventHandle ev(raw);
    --pending_;
    auto broker = static_cast<int32_t>(reinterpret_cast<intptr_t>(rd_kafka_event_opaque(raw)));
    auto it = brokers_.find(broker);
    if (it != brokers_.end()) it->second &= static_cast<uint8_t>(~kPending);
  }
}

int FetchWaker::Wake() {
  int sent = 0;
  armed_ = false;
  last_broker_ = -1;  // Taken() marks the next run's broker again
  for (auto& [broker, state] : brokers_) {
    if (!(state & kSeen) || (state & kPending)) continue;
    state = kPending;
    rd_kafka_AdminOptions_t* options =
        rd_kafka_AdminOptions_new(rk_, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
    char errstr[128];
    (void)rd_kafka_AdminOptions_set_request_timeout(options, kRequestTimeoutMs, errstr,
                                                    sizeof errstr);
    rd_kafka_AdminOptions_set_opaque(options, reinterpret_cast<void*>(intptr_t{broker}));
    const std::string name = std::to_string(broker);
    rd_kafka_ConfigResource_t* resource =
        rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_BROKER, name.c_str());
    // One small entry, not the broker's whole configuration.
    (void)rd_kafka_ConfigResource_set_config(resource, "broker.id", "");
    rd_kafka_DescribeConfigs(rk_, &resource, 1, options, answers_.get());
    rd_kafka_ConfigResource_destroy(resource);
    rd_kafka_AdminOptions_destroy(options);
    ++pending_;
    ++sent;
  }
  return sent;
}

}  // namespace messagecorps::internal
