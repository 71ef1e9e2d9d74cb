// A fault scenario's history and the checker that judges it (Jepsen-style, for Kafka).
//
// Writers tell the History what they sent and which delivery report each send got; readers tell it
// every record they read from the output topics (each record names its writer and per-writer
// sequence number: mcorps_test.HistoryRecord); the scenario tells it when it injected a fault.
// Check() then reports, for the whole scenario:
//   sent, acked, failed          sends, and their delivery reports (failures counted per status
//   code) reports_missing / _extra     sends without a report / more than one report (or a report
//   for
//                                nothing sent): "exactly one report per send"
//   read, distinct               records read (each log position once), distinct (writer, seq)
//   lost                         acked but never read
//   duplicated                   copies beyond the first of one (writer, seq) at other positions
//   reordered                    within a partition, a writer's record at a higher offset than a
//                                later record of the same writer (duplicates left out)
//   aborted_reads                records read that belong to a transaction its writer aborted
//   unacked_present              read although the send failed or got no report (allowed when the
//                                failure said "possibly persisted"; counted)
//   not_persisted_but_read       read although its failure report said it was certainly not written
//   unknown                      records read that nobody sent, or that do not decode
// Reads from every reader count for these (a record any reader saw is in the log); a named reader
// (ReadRecord::reader) also gets its own read / redelivered / missing counts.
// and, when the scenario says which router incarnations were killed and where their group had
// committed at that moment, splits duplicates into those explained by a kill (one copy was written
// by the killed incarnation, from an input record at or after that commit) and unexplained ones.
// Per fault it measures recovery: the time from the fault to the first successful delivery on the
// affected partitions, and to the first record read from them that shows the system working again
// (see Fault).
//
// Thread-safety: every recording method may be called from any thread; Check() takes a snapshot.
// Time: steady-clock nanoseconds (CLOCK_MONOTONIC, so comparable between processes of one machine).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace messagecorps::testing {

// steady_clock now, in nanoseconds.
int64_t NowNs();

// A record as a reader saw it.
struct ReadRecord {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  std::string writer;  // "" when the record did not decode (counted as unknown)
  int64_t seq = -1;
  std::string transaction;   // HistoryRecord.transaction
  std::string processed_by;  // HistoryRecord.processed_by
  int32_t input_partition = -1;
  int64_t input_offset = -1;
  int64_t at_ns = 0;  // when the reader received it
  // "" for the scenario's log reader; a name for other readers (e.g. consumer-group members),
  // whose own completeness is reported per name (HistoryReport::readers).
  std::string reader;
};

struct Fault {
  std::string what;  // "kill node 2 (leader of partition 0)"
  int64_t at_ns = 0;
  // The partitions of the written (input) topic it affects; empty: all.
  std::vector<int32_t> partitions;
  // For a consumer-side fault: the incarnation that was killed. Consumption has recovered at the
  // first record of an affected partition read after the fault that someone else derived.
  // Empty (a broker-side fault): consumption has recovered at the first record of an affected
  // partition read after the fault whose send was acknowledged after the fault (records fetched
  // before it do not count).
  std::string victim;
};

struct FaultRecovery {
  std::string what;
  // -1: nothing recovered (or not applicable: no delivery on a consumer-side fault).
  double delivery_ms = -1;
  double consume_ms = -1;
};

// What one named reader saw (ReadRecord::reader).
struct ReaderReport {
  uint64_t read = 0;         // records it was given
  uint64_t redelivered = 0;  // of those, log positions it had been given before
  uint64_t missing = 0;      // acked records it never saw
};

struct HistoryReport {
  std::string scenario;
  std::string librdkafka;  // version string, at run time
  uint64_t sent = 0, acked = 0, failed = 0;
  std::map<std::string, uint64_t> failed_by_code;  // absl status code name -> count
  uint64_t reports_missing = 0, reports_extra = 0;
  uint64_t read = 0, distinct = 0;
  uint64_t lost = 0, duplicated = 0, reordered = 0, aborted_reads = 0;
  uint64_t unacked_present = 0, not_persisted_but_read = 0, unknown = 0;
  // Only meaningful when kills were recorded (History::Killed).
  uint64_t duplicated_after_kill = 0, duplicated_unexplained = 0;
  std::vector<FaultRecovery> faults;
  std::map<std::string, ReaderReport> readers;
  // Scenario-specific numbers (e.g. "close_ms"), printed with the rest.
  std::map<std::string, double> extra;
  // A few concrete cases per violation, for failure messages.
  std::vector<std::string> examples;

  double MaxDeliveryRecoveryMs() const;
  double MaxConsumeRecoveryMs() const;
  // One line, machine-readable: "mcorps-history " + a JSON object of every field above except the
  // examples.
  std::string SummaryLine() const;
  // The examples, one per line, for assertion messages.
  std::string Details() const;
};

class History {
 public:
  explicit History(std::string scenario);

  // Writers.
  void Sent(const std::string& writer, int64_t seq);
  void Acked(const std::string& writer, int64_t seq, int32_t partition, int64_t offset,
             int64_t at_ns = NowNs());
  // `possibly_persisted`: DeliveryReport::possibly_persisted.
  void Failed(const std::string& writer, int64_t seq, const absl::Status& status,
              bool possibly_persisted, int64_t at_ns = NowNs());
  // The writer aborted this transaction: no read_committed reader may see its records.
  void Aborted(const std::string& transaction);

  // Readers.
  void Read(ReadRecord record);

  // The scenario.
  void AddFault(Fault fault);
  // A router/copier incarnation was killed; `committed` is its group's committed offset (next to
  // read) per input partition right after the kill.
  void Killed(const std::string& incarnation, std::map<int32_t, int64_t> committed);
  void SetExtra(const std::string& key, double value);

  HistoryReport Check() const;

  // Prints the summary line on stdout and appends it to $MESSAGECORPS_HISTORY_OUT when set (the
  // file scripts/robustness-report turns into docs/RELIABILITY.md's table).
  static void Publish(const HistoryReport& report);

 private:
  struct Send {
    bool sent = false;
    int reports = 0;
    bool acked = false;
    bool failed_not_persisted = false;  // a failure report said it was certainly not written
    int64_t ack_ns = 0;
    int32_t partition = -1;
    int64_t offset = -1;
  };
  struct Key {
    std::string writer;
    int64_t seq;
    auto operator<=>(const Key&) const = default;
  };

  mutable std::mutex mu_;
  std::string scenario_;
  std::map<Key, Send> sends_;
  uint64_t failed_ = 0, sent_ = 0, stray_reports_ = 0;
  std::map<std::string, uint64_t> failed_by_code_;
  std::vector<std::string> aborted_;
  std::vector<ReadRecord> reads_;
  std::vector<Fault> faults_;
  std::map<std::string, std::map<int32_t, int64_t>> killed_;
  std::map<std::string, double> extra_;
};

}  // namespace messagecorps::testing
