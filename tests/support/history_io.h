// Writing and reading a fault scenario's history on a real cluster: mcorps_test.HistoryRecord
// records sent through our Producer and read back through our Consumer, every send, report and
// record noted in a History (history.h).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "mcorps_test/history.pb.h"
#include "messagecorps/consumer.h"
#include "messagecorps/producer.h"
#include "messagecorps/topic.h"
#include "messagecorps/type_registry.h"
#include "support/history.h"

namespace messagecorps::testing {

// Writer `name` of a History: sends records numbered 0, 1, 2, ... through `producer`, noting each
// accepted send and its delivery report (per-send callback). Thread-compatible (one sending
// thread); reports arrive on the producer's threads.
class HistoryWriter {
 public:
  HistoryWriter(std::string name, Producer& producer, History& history, std::string topic,
                size_t filler_bytes = 100);

  // Sends the next record to `partition` (-1: the partitioner chooses). A send the producer refuses
  // (nothing queued, so no report will come) is returned and not noted as sent; its number is used
  // by the next attempt.
  absl::Status SendNext(int32_t partition = -1);
  int64_t sent() const { return next_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  Producer& producer_;
  History& history_;
  Topic<mcorps_test::HistoryRecord> topic_;
  mcorps_test::HistoryRecord record_;
  int64_t next_ = 0;
};

// The record of `writer` number `seq`, for writers that do not use HistoryWriter.
mcorps_test::HistoryRecord MakeHistoryRecord(const std::string& writer, int64_t seq,
                                             size_t filler_bytes = 100);

// True for the end markers HistoryReader::DrainToEnd writes (writer "", filler "end-marker-..."):
// other readers of a scenario's topics skip them.
bool IsEndMarker(const mcorps_test::HistoryRecord& record);

// A registry binding `topics` to mcorps_test.HistoryRecord (seed encoding).
TypeRegistry HistoryRegistry(const std::vector<std::string>& topics);

// Reads every partition of some topics from the beginning, without a group (an explicit
// assignment), on its own thread from Start() on, noting each record in the History with the time
// it arrived. read_committed by default (librdkafka's default too): a record of an aborted
// transaction it reads is an aborted read.
class HistoryReader {
 public:
  struct TopicSpec {
    std::string name;
    int partitions;
  };
  HistoryReader(std::string brokers, std::vector<TopicSpec> topics, History& history,
                bool read_committed = true);
  ~HistoryReader();  // stops the thread
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  absl::Status Start();
  // Reads to the end of every partition as it is now: writes an end marker (writer "", not noted)
  // to each partition with an idempotent producer of its own and reads until it has seen every
  // marker, i.e. everything before them (for read_committed, once every transaction before them is
  // committed or aborted). Stops the thread. kDeadlineExceeded naming the partitions not read to
  // their marker within `timeout`.
  absl::Status DrainToEnd(std::chrono::milliseconds timeout);
  uint64_t records() const { return records_.load(); }

 private:
  void Run(std::stop_token stop);

  std::string brokers_;
  std::vector<TopicSpec> topics_;
  History& history_;
  bool read_committed_;
  TypeRegistry registry_;
  std::unique_ptr<Consumer> consumer_;
  std::atomic<uint64_t> records_{0};
  std::atomic<int> markers_seen_{0};
  std::string marker_;  // the end markers' filler: unique per DrainToEnd
  std::atomic<bool> poll_failed_{false};
  absl::Status poll_error_;
  std::jthread thread_;
};

}  // namespace messagecorps::testing
