// Producer transactions on a real broker: a committed transaction's records and input offsets
// become visible together to read_committed readers; an aborted one's never do (a
// read_uncommitted reader still finds them in the log); a newer producer with the same
// transactional.id fences the older one (fatal for it, its open transaction aborted); misuse is a
// clear kFailedPrecondition.
#include <gtest/gtest.h>

#include <chrono>

#include "mcorps_test/history.pb.h"
#include "messagecorps/error.h"
#include "support/history_io.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using mcorps_test::HistoryRecord;
using testing::CreateTopicOrFail;
using testing::MakeHistoryRecord;
using testing::MakeProducer;
using testing::TestBrokers;
using testing::UniqueName;

// Every record of `topic` (1 partition) as `isolation` sees it: the writers of what it read, after
// reading to the end of the partition.
std::vector<std::string> ReadAll(const std::string& brokers, const std::string& topic,
                                 const char* isolation) {
  TypeRegistry registry = testing::HistoryRegistry({topic});
  std::vector<std::string> out;
  for (const ReceivedMessage& m : testing::ReadToEnd(brokers, topic, 1, registry, isolation)) {
    const auto* r = m.As<HistoryRecord>();
    out.push_back(r ? absl::StrCat(r->writer(), "#", r->seq()) : "?");
  }
  return out;
}

std::unique_ptr<Producer> Transactional(const std::string& brokers, const std::string& id) {
  ProducerConfig pc;
  pc.transactional_id = id;
  pc.close_timeout = 5s;
  return MakeProducer(brokers, pc);
}

TEST(Transactions, CommittedRecordsAndOffsetsBecomeVisibleTogetherAbortedOnesNever) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string input = UniqueName("txn-in");
  const std::string output = UniqueName("txn-out");
  const std::string group = UniqueName("txn");
  CreateTopicOrFail(brokers, input, 1);
  CreateTopicOrFail(brokers, output, 1);
  Topic<HistoryRecord> out_topic(output);

  // A group member whose position the transaction commits (it must have joined: its generation
  // goes into the commit).
  {
    auto p = MakeProducer(brokers);
    HistoryRecord in = MakeHistoryRecord("in", 0);
    ASSERT_TRUE(p->SendSync(Topic<HistoryRecord>(input), in).ok());
  }
  TypeRegistry registry = testing::HistoryRegistry({input});
  ConsumerConfig cc;
  cc.registry = &registry;
  cc.commit = CommitMode::kManual;
  auto consumer = testing::MakeConsumer(brokers, {input}, group, cc);
  ASSERT_EQ(testing::PollUntil(*consumer, 1, 60s).size(), 1u);

  auto producer = Transactional(brokers, UniqueName("txn-id"));
  ASSERT_NE(producer, nullptr);
  // 30 s: finding the transaction coordinator and initialising the id; a second on a quiet broker.
  ASSERT_TRUE(producer->InitTransactions(30s).ok());
  EXPECT_FALSE(producer->in_transaction());

  // Aborted: written to the log, never visible to read_committed.
  ASSERT_TRUE(producer->BeginTransaction().ok());
  EXPECT_TRUE(producer->in_transaction());
  for (int i = 0; i < 3; ++i) {
    HistoryRecord r = MakeHistoryRecord("aborted", i);
    ASSERT_TRUE(producer->Send(out_topic, r).ok());
  }
  ASSERT_TRUE(producer->Flush(30s).ok());  // in the log before the abort
  absl::Status aborted = producer->AbortTransaction(30s);
  ASSERT_TRUE(aborted.ok()) << aborted;
  EXPECT_FALSE(producer->in_transaction());
  // After an abort the input is rewound to redo the work: a seek without waiting is enough.
  absl::Status rewound = consumer->Seek({input, 0, 0}, 0ms);
  ASSERT_TRUE(rewound.ok()) << rewound;
  auto again = testing::PollUntil(*consumer, 1, 30s);
  ASSERT_EQ(again.size(), 1u) << "the rewound record is read again";
  EXPECT_EQ(again[0].offset(), 0);

  // Committed, with the input position.
  ASSERT_TRUE(producer->BeginTransaction().ok());
  for (int i = 0; i < 3; ++i) {
    HistoryRecord r = MakeHistoryRecord("committed", i);
    ASSERT_TRUE(producer->Send(out_topic, r).ok());
  }
  absl::Status offsets = producer->SendOffsetsToTransaction({{input, 0, 1}}, *consumer, 30s);
  ASSERT_TRUE(offsets.ok()) << offsets;
  absl::Status committed = producer->CommitTransaction(30s);
  ASSERT_TRUE(committed.ok()) << committed;
  EXPECT_FALSE(producer->in_transaction());

  EXPECT_EQ(ReadAll(brokers, output, "read_committed"),
            (std::vector<std::string>{"committed#0", "committed#1", "committed#2"}));
  EXPECT_EQ(ReadAll(brokers, output, "read_uncommitted"),
            (std::vector<std::string>{"aborted#0", "aborted#1", "aborted#2", "committed#0",
                                      "committed#1", "committed#2"}));
  ClientConfig ac;
  ac.brokers = brokers;
  auto admin = AdminClient::Create(ac);
  ASSERT_TRUE(admin.ok());
  auto lag = (*admin)->GroupLag(group, 10s);
  ASSERT_TRUE(lag.ok()) << lag.status();
  ASSERT_EQ(lag->size(), 1u);
  EXPECT_EQ((*lag)[0].committed, 1) << "the transaction committed the input position";
}

TEST(Transactions, ANewerProducerWithTheSameIdFencesTheOlderAndAbortsItsOpenTransaction) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string output = UniqueName("txn-fence");
  CreateTopicOrFail(brokers, output, 1);
  Topic<HistoryRecord> out_topic(output);
  const std::string id = UniqueName("txn-id");

  auto old_producer = Transactional(brokers, id);
  ASSERT_TRUE(old_producer->InitTransactions(30s).ok());
  ASSERT_TRUE(old_producer->BeginTransaction().ok());
  HistoryRecord r = MakeHistoryRecord("zombie", 0);
  ASSERT_TRUE(old_producer->Send(out_topic, r).ok());
  ASSERT_TRUE(old_producer->Flush(30s).ok());

  auto new_producer = Transactional(brokers, id);
  ASSERT_TRUE(new_producer->InitTransactions(30s).ok());  // fences the old one
  ASSERT_TRUE(new_producer->BeginTransaction().ok());
  r = MakeHistoryRecord("successor", 0);
  ASSERT_TRUE(new_producer->Send(out_topic, r).ok());
  ASSERT_TRUE(new_producer->CommitTransaction(30s).ok());

  absl::Status zombie = old_producer->CommitTransaction(30s);
  ASSERT_FALSE(zombie.ok());
  EXPECT_TRUE(IsFatal(zombie)) << zombie;
  EXPECT_EQ(zombie.code(), absl::StatusCode::kAborted) << zombie;
  EXPECT_FALSE(old_producer->in_transaction());
  EXPECT_EQ(ReadAll(brokers, output, "read_committed"), (std::vector<std::string>{"successor#0"}));
}

TEST(Transactions, MisuseIsAFailedPrecondition) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic = UniqueName("txn-misuse");
  CreateTopicOrFail(brokers, topic, 1);

  auto plain = MakeProducer(brokers);
  for (const absl::Status& s : {plain->InitTransactions(1s), plain->BeginTransaction(),
                                plain->CommitTransaction(1s), plain->AbortTransaction(1s)}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
    EXPECT_NE(s.message().find("transactional_id"), std::string_view::npos) << s;
  }

  auto producer = Transactional(brokers, UniqueName("txn-id"));
  ASSERT_TRUE(producer->InitTransactions(30s).ok());
  HistoryRecord r = MakeHistoryRecord("outside", 0);
  absl::Status outside = producer->Send(Topic<HistoryRecord>(topic), r);
  EXPECT_EQ(outside.code(), absl::StatusCode::kFailedPrecondition)
      << "a send outside a transaction: " << outside;
  absl::Status commit = producer->CommitTransaction(5s);
  EXPECT_FALSE(commit.ok()) << "commit without a transaction";

  // Offsets need a group: a consumer reading an explicit assignment has none.
  ConsumerConfig cc;
  cc.brokers = brokers;
  cc.assignment = {{topic, 0, kOffsetBeginning}};
  auto reader = Consumer::Create(cc);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(producer->BeginTransaction().ok());
  absl::Status s = producer->SendOffsetsToTransaction({{topic, 0, 0}}, **reader, 5s);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(producer->AbortTransaction(30s).ok());
}

}  // namespace
}  // namespace messagecorps
