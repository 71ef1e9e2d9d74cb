// Issue 17's resume test: numbered records over 12 partitions read through gateways that keep being
// replaced. The subscription is cut every 5 s and resumed on the *other* gateway process with the
// resume token of the last record read; then a gateway is SIGKILLed mid-stream and the stream
// resumes on a survivor (a cut also comes after every tenth of the records). Checked: no gap, order
// kept per partition, duplicates counted (a fan-out stream resumed from the last record read has
// none). The figures are printed as a JSON line
// ("resume_figures") for docs/gateway.md.
// Records: $MCORPS_GATEWAY_RESUME_RECORDS (default 100,000, issue 17's figure).
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <vector>

#include "integration/gateway_support.h"
#include "messagecorps/producer.h"
#include "messagecorps/topic.h"
#include "protobuf/data/ImageData.pb.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"

namespace messagecorps::testing {
namespace {

constexpr int kPartitions = 12;

int64_t RecordCount() {
  const char* env = std::getenv("MCORPS_GATEWAY_RESUME_RECORDS");
  return env != nullptr && *env != '\0' ? std::atoll(env) : 100000;
}

struct Tally {
  std::map<int32_t, int64_t> next;  // partition -> next offset expected
  int64_t received = 0, duplicates = 0, gaps = 0, out_of_order = 0;
  void Add(const v1::Record& r) {
    ++received;
    int64_t& want = next[r.partition()];
    if (r.offset() == want) {
      ++want;
    } else if (r.offset() < want) {
      ++duplicates;  // already seen (offsets are delivered in order per partition)
    } else {
      ++gaps;
      want = r.offset() + 1;
    }
  }
  int64_t unique() const {
    int64_t n = 0;
    for (const auto& [p, o] : next) n += o;
    return n;
  }
};

// Reads from `gw` starting at `token` ("" = earliest) until `cut` passes, `until_unique` records
// are in, or the stream ends; returns the token of the last record read.
std::string ReadFor(GatewayProcess& gw, const std::string& topic, const std::string& token,
                    std::chrono::milliseconds cut, int64_t until_unique, Tally& tally,
                    const std::function<void()>& mid_stream = nullptr) {
  // A cut also after a tenth of the records: a fast machine reads 100,000 records in a few
  // seconds, and the test is about many resumes, not about waiting.
  const int64_t chunk_end = tally.unique() + std::max<int64_t>(1, RecordCount() / 10);
  v1::SubscribeRequest req;
  req.set_topic(topic);
  if (token.empty()) {
    req.set_position(v1::START_POSITION_EARLIEST);
  } else {
    req.set_resume_token(token);
  }
  grpc::ClientContext ctx;
  auto stub = gw.Stub();
  auto reader = stub->Subscribe(&ctx, req);
  std::string last = token;
  const auto deadline = std::chrono::steady_clock::now() + cut;
  v1::SubscribeResponse resp;
  bool called = false;
  std::mutex mu;
  std::condition_variable done_cv;
  bool done = false;
  std::thread canceller([&] {
    // The cut: cancel the call when its time is up (Read blocks otherwise).
    std::unique_lock lock(mu);
    done_cv.wait_until(lock, deadline, [&] { return done; });
    ctx.TryCancel();
  });
  while (reader->Read(&resp)) {
    for (const v1::Record& r : resp.records()) {
      tally.Add(r);
      last = r.resume_token();
    }
    if (mid_stream && !called && tally.unique() > 0) {
      called = true;
      mid_stream();
    }
    if (tally.unique() >= until_unique || tally.unique() >= chunk_end) break;
  }
  {
    std::lock_guard lock(mu);
    done = true;
  }
  done_cv.notify_all();
  canceller.join();
  reader->Finish();
  return last;
}

TEST(GatewayResume, CutEvery5sResumedOnAnotherGatewayAndAfterSigkill) {
  const std::string brokers = TestBrokers();
  const int64_t total = RecordCount();
  const std::string topic = UniqueName("gw-resume");
  CreateTopicOrFail(brokers, topic, kPartitions);
  TempDir dir("gateway_resume_test_");
  std::ofstream(dir.path() / "registry.conf") << topic << " protobuf.data.Image encoding=raw\n";
  std::ofstream(dir.path() / "secret") << "a-shared-secret-for-every-replica-32b\n";
  const std::vector<std::string> args = {"--registry", (dir.path() / "registry.conf").string(),
                                         "--resume-secret-file", (dir.path() / "secret").string()};

  // The numbered records, produced with the library directly, round robin over the partitions.
  {
    ProducerConfig pc;
    pc.brokers = brokers;
    pc.queue_full_wait = std::chrono::seconds(30);
    auto producer = Producer::Create(pc);
    ASSERT_TRUE(producer.ok()) << producer.status();
    TopicOptions raw;
    raw.encoding = Encoding::kRaw;
    Topic<protobuf::data::Image> t(topic, raw);
    for (int64_t i = 0; i < total; ++i) {
      protobuf::data::Image image;
      image.set_frame(i);
      SendOptions options;
      options.partition = static_cast<int32_t>(i % kPartitions);
      ASSERT_TRUE((*producer)->Send(t, image, options).ok());
    }
    ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(120)).ok());
  }

  GatewayProcess a("gateway_a", brokers, args, dir.path());
  GatewayProcess b("gateway_b", brokers, args, dir.path());
  ASSERT_TRUE(a.WaitReady());
  ASSERT_TRUE(b.WaitReady());

  Tally tally;
  std::string token;
  int resumes = 0;
  const auto started = std::chrono::steady_clock::now();
  // Phase 1: half the records, cut every 5 s, alternating between the two processes.
  for (int i = 0; tally.unique() < total / 2 && i < 200; ++i) {
    GatewayProcess& gw = i % 2 == 0 ? a : b;
    token = ReadFor(gw, topic, token, std::chrono::seconds(5), total / 2, tally);
    ++resumes;
  }
  ASSERT_GE(tally.unique(), total / 2);
  // Phase 2: a third gateway is SIGKILLed while it streams; the stream resumes on a survivor.
  {
    GatewayProcess c("gateway_c", brokers, args, dir.path());
    ASSERT_TRUE(c.WaitReady());
    const int64_t before = tally.unique();
    token = ReadFor(c, topic, token, std::chrono::seconds(30), total, tally, [&] {
      // Mid-stream: after its first response, the process dies without a drain.
      kill(c.process().pid(), SIGKILL);
    });
    EXPECT_GT(tally.unique(), before);
    EXPECT_TRUE(c.process().Wait(std::chrono::seconds(10)));
    ++resumes;
  }
  for (int i = 0; tally.unique() < total && i < 200; ++i) {
    GatewayProcess& gw = i % 2 == 0 ? a : b;
    token = ReadFor(gw, topic, token, std::chrono::seconds(5), total, tally);
    ++resumes;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "resume_figures {\"records\": " << total << ", \"received\": " << tally.received
            << ", \"unique\": " << tally.unique() << ", \"gaps\": " << tally.gaps
            << ", \"duplicates\": " << tally.duplicates << ", \"resumes\": " << resumes
            << ", \"seconds\": " << seconds << "}" << std::endl;
  EXPECT_EQ(tally.unique(), total);
  EXPECT_EQ(tally.gaps, 0);
  EXPECT_EQ(tally.duplicates, 0);
  for (int p = 0; p < kPartitions; ++p)
    EXPECT_EQ(tally.next[p], total / kPartitions + (p < total % kPartitions ? 1 : 0))
        << "partition " << p;
}

}  // namespace
}  // namespace messagecorps::testing
