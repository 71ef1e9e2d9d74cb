// The fault scenarios' history checker (tests/support/history.h) on in-memory histories: a clean
// history passes, and each kind of violation — loss, duplicates, reordering, aborted reads, missing
// or extra delivery reports, phantom records — is detected and counted, nothing else.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/history.h"

namespace messagecorps::testing {
namespace {

constexpr int64_t kMs = 1'000'000;

ReadRecord At(std::string writer, int64_t seq, int32_t partition, int64_t offset,
              int64_t at_ns = 0) {
  ReadRecord r;
  r.topic = "out";
  r.writer = std::move(writer);
  r.seq = seq;
  r.partition = partition;
  r.offset = offset;
  r.at_ns = at_ns;
  return r;
}

// Writer `w` sends `n` records round-robin over `partitions`, each acked at offset seq/partitions,
// acked at time seq ms.
void SendAll(History& h, const std::string& w, int n, int partitions = 1) {
  for (int seq = 0; seq < n; ++seq) {
    h.Sent(w, seq);
    h.Acked(w, seq, seq % partitions, seq / partitions, seq * kMs);
  }
}

void ReadAll(History& h, const std::string& w, int n, int partitions = 1) {
  for (int seq = 0; seq < n; ++seq) h.Read(At(w, seq, seq % partitions, seq / partitions));
}

TEST(HistoryChecker, ACleanHistoryHasNoViolation) {
  History h("clean");
  SendAll(h, "a", 100, 3);
  SendAll(h, "b", 50, 3);
  ReadAll(h, "a", 100, 3);
  // b's records at offsets after a's in each partition.
  for (int seq = 0; seq < 50; ++seq) h.Read(At("b", seq, seq % 3, 1000 + seq / 3));
  HistoryReport r = h.Check();
  EXPECT_EQ(r.sent, 150u);
  EXPECT_EQ(r.acked, 150u);
  EXPECT_EQ(r.read, 150u);
  EXPECT_EQ(r.distinct, 150u);
  EXPECT_EQ(r.lost + r.duplicated + r.reordered + r.aborted_reads + r.unknown + r.unacked_present +
                r.not_persisted_but_read + r.reports_missing + r.reports_extra + r.failed,
            0u)
      << r.SummaryLine() << "\n"
      << r.Details();
  EXPECT_TRUE(r.examples.empty());
}

TEST(HistoryChecker, DetectsAnAckedRecordThatWasNeverRead) {
  History h("loss");
  SendAll(h, "a", 10);
  for (int seq = 0; seq < 10; ++seq) {
    if (seq != 4) h.Read(At("a", seq, 0, seq));
  }
  HistoryReport r = h.Check();
  EXPECT_EQ(r.lost, 1u);
  EXPECT_EQ(r.read, 9u);
  EXPECT_EQ(r.reordered, 0u) << "a gap is a loss, not a reordering";
  ASSERT_FALSE(r.examples.empty());
  EXPECT_NE(r.examples[0].find("lost: a#4"), std::string::npos) << r.Details();
}

TEST(HistoryChecker, AFailedSendThatIsNotReadIsNotLost) {
  History h("failed");
  h.Sent("a", 0);
  h.Failed("a", 0, absl::DeadlineExceededError("message timed out"), true);
  h.Sent("a", 1);
  h.Failed("a", 1, absl::DeadlineExceededError("message timed out"), true);
  h.Read(At("a", 1, 0, 0));  // possibly persisted: allowed, counted
  HistoryReport r = h.Check();
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.failed, 2u);
  EXPECT_EQ(r.failed_by_code.at("DEADLINE_EXCEEDED"), 2u);
  EXPECT_EQ(r.unacked_present, 1u);
  EXPECT_EQ(r.not_persisted_but_read, 0u);
  EXPECT_EQ(r.reports_missing, 0u);
}

TEST(HistoryChecker, DetectsAReadRecordWhoseFailureSaidItWasNotWritten) {
  History h("not-persisted");
  h.Sent("a", 0);
  h.Failed("a", 0, absl::UnavailableError("not enough replicas"), false);
  h.Read(At("a", 0, 0, 0));
  HistoryReport r = h.Check();
  EXPECT_EQ(r.unacked_present, 1u);
  EXPECT_EQ(r.not_persisted_but_read, 1u);
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_NE(r.examples[0].find("not written"), std::string::npos);
}

TEST(HistoryChecker, DetectsDuplicatesButNotAReaderRereadingOnePosition) {
  History h("dup");
  SendAll(h, "a", 5);
  ReadAll(h, "a", 5);
  h.Read(At("a", 2, 0, 7));  // the same record again at another offset: a duplicate in the log
  h.Read(At("a", 3, 0, 3));  // the same position read twice: the reader's business, not the log's
  HistoryReport r = h.Check();
  EXPECT_EQ(r.read, 6u);
  EXPECT_EQ(r.distinct, 5u);
  EXPECT_EQ(r.duplicated, 1u);
  EXPECT_EQ(r.duplicated_unexplained, 1u);
  EXPECT_EQ(r.reordered, 0u) << "a duplicate is not also a reordering";
}

TEST(HistoryChecker, DetectsReorderingWithinAPartitionOnly) {
  History h("order");
  SendAll(h, "a", 4);
  h.Read(At("a", 0, 0, 0));
  h.Read(At("a", 2, 0, 1));
  h.Read(At("a", 1, 0, 2));  // after 2 in partition 0
  h.Read(At("a", 3, 0, 3));
  HistoryReport r = h.Check();
  EXPECT_EQ(r.reordered, 1u) << r.Details();

  // Across partitions a writer's records have no order to keep; other writers do not interfere.
  History h2("order2");
  SendAll(h2, "a", 4, 2);
  SendAll(h2, "b", 2, 1);
  h2.Read(At("a", 1, 1, 0));
  h2.Read(At("a", 3, 1, 1));
  h2.Read(At("b", 1, 0, 0));  // b out of order...
  h2.Read(At("a", 0, 0, 1));
  h2.Read(At("b", 0, 0, 2));  // ...with a in between
  h2.Read(At("a", 2, 0, 3));
  HistoryReport r2 = h2.Check();
  EXPECT_EQ(r2.reordered, 1u) << r2.Details();
  ASSERT_FALSE(r2.examples.empty());
  EXPECT_NE(r2.examples[0].find("b#0"), std::string::npos) << r2.Details();
}

TEST(HistoryChecker, DetectsReadsOfAbortedTransactions) {
  History h("txn");
  SendAll(h, "a", 4);
  h.Aborted("copier/1");
  ReadRecord committed = At("a", 0, 0, 0);
  committed.transaction = "copier/0";
  ReadRecord aborted = At("a", 1, 0, 1);
  aborted.transaction = "copier/1";
  h.Read(committed);
  h.Read(aborted);
  h.Read(At("a", 2, 0, 2));
  h.Read(At("a", 3, 0, 3));
  HistoryReport r = h.Check();
  EXPECT_EQ(r.aborted_reads, 1u);
  EXPECT_EQ(r.lost, 0u);
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_NE(r.examples[0].find("copier/1"), std::string::npos);
}

TEST(HistoryChecker, CountsMissingAndExtraDeliveryReports) {
  History h("reports");
  h.Sent("a", 0);  // no report at all
  h.Sent("a", 1);
  h.Acked("a", 1, 0, 0);
  h.Acked("a", 1, 0, 0);  // two reports for one send
  h.Acked("a", 9, 0, 1);  // a report for nothing sent
  h.Read(At("a", 1, 0, 0));
  h.Read(At("a", 9, 0, 1));
  HistoryReport r = h.Check();
  EXPECT_EQ(r.reports_missing, 1u);
  EXPECT_EQ(r.reports_extra, 2u);
  EXPECT_EQ(r.unknown, 1u) << "a#9 was never sent";
  EXPECT_EQ(r.unacked_present, 0u);
}

TEST(HistoryChecker, CountsUndecodableRecordsAsUnknown) {
  History h("garbage");
  SendAll(h, "a", 1);
  h.Read(At("a", 0, 0, 0));
  h.Read(At("", -1, 0, 1));
  HistoryReport r = h.Check();
  EXPECT_EQ(r.unknown, 1u);
  EXPECT_EQ(r.read, 2u);
  EXPECT_EQ(r.distinct, 1u);
}

TEST(HistoryChecker, SplitsDuplicatesIntoExplainedByAKillAndUnexplained) {
  History h("churn");
  SendAll(h, "a", 20);
  // The victim derived input offsets 0..14; its group had committed 10 when it was killed; the
  // successor derived 10..19 again.
  auto derived = [](int seq, int64_t offset, const char* by) {
    ReadRecord r = At("a", seq, 0, offset);
    r.processed_by = by;
    r.input_partition = 0;
    r.input_offset = seq;
    return r;
  };
  int64_t offset = 0;
  for (int seq = 0; seq < 15; ++seq) h.Read(derived(seq, offset++, "victim"));
  for (int seq = 10; seq < 20; ++seq) h.Read(derived(seq, offset++, "successor"));
  h.Killed("victim", {{0, 10}});
  HistoryReport r = h.Check();
  EXPECT_EQ(r.duplicated, 5u);
  EXPECT_EQ(r.duplicated_after_kill, 5u);
  EXPECT_EQ(r.duplicated_unexplained, 0u);

  // Had the group committed 12, offsets 10 and 11 were processed twice without a reason.
  h.Killed("victim", {{0, 12}});
  r = h.Check();
  EXPECT_EQ(r.duplicated_after_kill, 3u);
  EXPECT_EQ(r.duplicated_unexplained, 2u);
}

TEST(HistoryChecker, MeasuresRecoveryFromTheFaultToTheFirstDeliveryAndRead) {
  History h("recovery");
  // Records 0..9 acked at 0..9 ms on partition 0; the fault at 3.5 ms affects partition 0; a record
  // acked before the fault but read after it does not count as recovered consumption.
  for (int seq = 0; seq < 10; ++seq) {
    h.Sent("a", seq);
    h.Acked("a", seq, 0, seq, seq * kMs + (seq >= 4 ? 100 * kMs : 0));  // 4.. acked after 100 ms
  }
  h.AddFault({"kill leader", 3 * kMs + kMs / 2, {0}, ""});
  h.AddFault({"kill other", 3 * kMs + kMs / 2, {1}, ""});
  h.Read(At("a", 3, 0, 3, 50 * kMs));   // acked before the fault: not a recovery
  h.Read(At("a", 4, 0, 4, 150 * kMs));  // acked at 104 ms, read at 150 ms
  for (int seq = 5; seq < 10; ++seq) h.Read(At("a", seq, 0, seq, 200 * kMs));
  for (int seq = 0; seq < 3; ++seq) h.Read(At("a", seq, 0, seq, 1 * kMs));
  HistoryReport r = h.Check();
  ASSERT_EQ(r.faults.size(), 2u);
  EXPECT_DOUBLE_EQ(r.faults[0].delivery_ms, 100.5);
  EXPECT_DOUBLE_EQ(r.faults[0].consume_ms, 146.5);
  EXPECT_EQ(r.faults[1].delivery_ms, -1) << "nothing was delivered to partition 1";
  EXPECT_EQ(r.faults[1].consume_ms, -1);

  // A consumer-side fault: recovered at the first record someone other than the victim derived.
  History c("consumer");
  SendAll(c, "a", 3);
  c.AddFault({"kill router r1", 10 * kMs, {0}, "r1"});
  ReadRecord by_victim = At("a", 0, 0, 0, 11 * kMs);
  by_victim.processed_by = "r1";
  by_victim.input_partition = 0;
  ReadRecord by_other = At("a", 1, 0, 1, 30 * kMs);
  by_other.processed_by = "r2";
  by_other.input_partition = 0;
  c.Read(by_victim);
  c.Read(by_other);
  r = c.Check();
  ASSERT_EQ(r.faults.size(), 1u);
  EXPECT_EQ(r.faults[0].delivery_ms, -1);
  EXPECT_DOUBLE_EQ(r.faults[0].consume_ms, 20);
}

TEST(HistoryChecker, ReportsWhatEachNamedReaderMissedAndWasGivenTwice) {
  History h("readers");
  SendAll(h, "a", 4);
  ReadAll(h, "a", 4);  // the log reader saw everything
  for (int seq : {0, 1, 1, 3}) {
    ReadRecord r = At("a", seq, 0, seq);
    r.reader = "group";
    h.Read(r);
  }
  HistoryReport r = h.Check();
  EXPECT_EQ(r.lost, 0u);
  EXPECT_EQ(r.duplicated, 0u) << "a redelivery is not a duplicate in the log";
  ASSERT_EQ(r.readers.count("group"), 1u);
  EXPECT_EQ(r.readers["group"].read, 4u);
  EXPECT_EQ(r.readers["group"].redelivered, 1u);
  EXPECT_EQ(r.readers["group"].missing, 1u);
  ASSERT_EQ(r.examples.size(), 1u);
  EXPECT_EQ(r.examples[0], "missed by group: a#2");
}

TEST(HistoryChecker, SummaryIsOneLineOfJson) {
  History h("summary \"quoted\"");
  SendAll(h, "a", 3);
  ReadAll(h, "a", 2);
  h.AddFault({"stall", 1 * kMs, {}, ""});
  h.SetExtra("close_ms", 12.5);
  HistoryReport r = h.Check();
  const std::string line = r.SummaryLine();
  ASSERT_EQ(line.rfind("mcorps-history {", 0), 0u) << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
  auto j = nlohmann::json::parse(line.substr(std::string("mcorps-history ").size()));
  EXPECT_EQ(j["scenario"], "summary \"quoted\"");
  EXPECT_EQ(j["sent"], 3);
  EXPECT_EQ(j["lost"], 1);
  EXPECT_EQ(j["faults"], 1);
  EXPECT_EQ(j["close_ms"], 12.5);
  EXPECT_FALSE(j["librdkafka"].get<std::string>().empty());
  EXPECT_EQ(j["recovery"].size(), 1u);
}

}  // namespace
}  // namespace messagecorps::testing
