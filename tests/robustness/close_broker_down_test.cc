// Nothing blocks forever when the whole cluster is gone: Consumer::Close, a Router stopping and a
// Producer closing with undelivered records all return within their timeouts while every broker of
// the 3-node fixture cluster is down (killed) or frozen (SIGSTOP). The cluster is brought back at
// the end of each test, whatever happened, so the tests after these still have it.
// Releasing a consumer whose Close timed out is bounded by librdkafka's socket.timeout.ms (its
// in-flight LeaveGroup must time out first): measured 3 s with the nodes killed and 57 s with them
// frozen at the default 60 s; these tests set 10 s.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "messagecorps/metrics.h"
#include "messagecorps/router.h"
#include "messagecorps/seed_topics.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using testing::CreateTopicOrFail;
using testing::KafkaScript;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::TestBrokers;
using testing::UniqueName;
using Clock = std::chrono::steady_clock;

constexpr int kNodes = 3;
constexpr std::chrono::milliseconds kSocketTimeout{10000};

// The bounds on time below check the promises of consumer.h, router.h and producer.h; each adds
// a slack for this machine: 2 cores shared with other builds and brokers, where a thread that is
// ready to run may wait a few hundred milliseconds for a core.
//
// Consumer::Close(timeout) "always returns within timeout": it checks its deadline between waits
// of at most 100 ms on its close queue, so it returns by timeout + 100 ms; +400 ms of scheduling.
constexpr std::chrono::milliseconds kCloseTimeout{3000};
constexpr std::chrono::milliseconds kCloseBound = kCloseTimeout + std::chrono::milliseconds(500);
// Releasing a consumer whose Close timed out waits for librdkafka's in-flight requests (LeaveGroup)
// to time out: socket.timeout.ms (set to kSocketTimeout), then its threads are joined (they wake
// up at least once a second); +1 s for that wake-up, +1 s of scheduling.
constexpr std::chrono::milliseconds kReleaseBound = kSocketTimeout + std::chrono::seconds(2);
// A Close that timed out has used its whole timeout, give or take whole-millisecond rounding: its
// loop gives up once less than 1 ms is left (it truncates the time left to milliseconds), and
// Timed() truncates the duration it measures; seen: 2999 ms for Close(3s).
constexpr std::chrono::milliseconds kTimedOutAtLeast = kCloseTimeout - std::chrono::milliseconds(2);

// What Close returns with the cluster gone: OK when librdkafka already knew the group coordinator
// was down (it then skips the LeaveGroup request: nothing to wait for), else kDeadlineExceeded
// naming the group, once the request went unanswered for the whole timeout. Which of the two
// depends on whether librdkafka's main thread noticed the dropped connections before Close, a
// race this test cannot steer; any other status is a failure.
// A timeout is reported only once the whole timeout has passed.
void ExpectClosedOrTimedOut(const absl::Status& closed, std::chrono::milliseconds took,
                            const std::string& group) {
  if (closed.ok()) return;
  EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
  EXPECT_NE(closed.message().find("group " + group + " not left within 3000 ms"),
            std::string_view::npos)
      << closed;
  EXPECT_GE(took, kTimedOutAtLeast) << "a timeout reported before the timeout";
}

// Produces and reads back one record on a fresh replicated topic, retrying for up to `timeout`:
// the cluster serves again.
void ExpectClusterServes(const std::string& brokers, std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  const std::string topic = UniqueName("alive");
  absl::Status last;
  while (Clock::now() < deadline) {
    ClientConfig config;
    config.brokers = brokers;
    auto admin = AdminClient::Create(config);
    ASSERT_TRUE(admin.ok()) << admin.status();
    last = (*admin)->CreateTopic({topic, 1, kNodes, {}}, 10s, /*ignore_existing=*/true);
    if (last.ok()) last = (*admin)->WaitForTopic(topic, 1, 10s);
    if (last.ok()) break;
    std::this_thread::sleep_for(1s);
  }
  ASSERT_TRUE(last.ok()) << "cluster not back: " << last;
  auto producer = MakeProducer(brokers);
  Image image;
  image.set_frame(7);
  auto report = producer->SendSync(Topic<Image>(topic), image, {}, 30s);
  ASSERT_TRUE(report.ok()) << report.status();
  auto consumer = MakeConsumer(brokers, {topic}, UniqueName("alive"));
  auto got = PollUntil(*consumer, 1, 30s);
  ASSERT_EQ(got.size(), 1u);
}

// A consumer group member with an assignment and a record read, on a replicated topic.
struct Member {
  std::string topic;
  std::string group;
  std::unique_ptr<Consumer> consumer;
};
Member JoinedMember(const std::string& brokers) {
  Member m;
  m.topic = UniqueName("down");
  m.group = UniqueName("down");
  CreateTopicOrFail(brokers, m.topic, 3, kNodes);
  auto producer = MakeProducer(brokers);
  Image image;
  EXPECT_TRUE(producer->SendSync(Topic<Image>(m.topic), image).ok());
  ConsumerConfig config;
  // Releasing the client after a Close that timed out waits for librdkafka's in-flight requests
  // (LeaveGroup, ...): up to socket.timeout.ms (60 s by default) when the brokers are frozen.
  config.properties["socket.timeout.ms"] = std::to_string(kSocketTimeout.count());
  m.consumer = MakeConsumer(brokers, {m.topic}, m.group, config);
  EXPECT_EQ(PollUntil(*m.consumer, 1, 60s).size(), 1u);
  EXPECT_FALSE(m.consumer->Assignment().empty());
  return m;
}

template <class F>
std::chrono::milliseconds Timed(F&& f) {
  const auto start = Clock::now();
  f();
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
}

// Restarts the killed nodes when it goes out of scope, all three at once: with every node of the
// KRaft quorum down, a restarted node waits for a controller majority and gives up after Kafka's
// initial.broker.registration.timeout.ms (60 s). Restarted one after the other, each restart
// waiting for its node, the first had given up before the next one came up on a loaded machine
// (a JVM start took ~45 s there). The 180 s limit: three JVMs starting together on a loaded
// 2-core machine, then the 60 s registration window, then the readiness probe's own JVM.
struct RestartAll {
  ~RestartAll() { EXPECT_EQ(KafkaScript("restart all --timeout 180"), 0); }
};

TEST(BrokerDown, CloseRouterStopAndProducerCloseReturnInTimeWhileEveryNodeIsKilled) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  Member member = JoinedMember(brokers);
  ASSERT_NE(member.consumer, nullptr);

  // A router in the group as well, running.
  RouterConfig rc;
  rc.client.brokers = brokers;
  rc.consumer.group_id = UniqueName("router");
  rc.consumer.start = StartOffset::kEarliest;
  rc.close_timeout = kCloseTimeout;
  rc.poll_timeout = 50ms;
  Router router(rc);
  std::atomic<int> handled{0};
  ASSERT_TRUE(router
                  .AddHandler("count", {member.topic},
                              [&](ReceivedMessage&) -> HandlerResult {
                                ++handled;
                                return std::vector<Outgoing>{};
                              })
                  .ok());
  absl::Status router_status;
  std::jthread router_thread([&] { router_status = router.Run(); });
  const auto deadline = Clock::now() + 60s;
  // Handled and committed: the router is idle when the cluster goes away.
  while (router.Stats().commits == 0 && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_EQ(handled.load(), 1);
  ASSERT_EQ(router.Stats().commits, 1u);

  ProducerConfig pc;
  pc.close_timeout = 2s;
  auto producer = MakeProducer(brokers, pc);
  ASSERT_NE(producer, nullptr);

  {
    RestartAll restart;
    for (int n = 1; n <= kNodes; ++n) ASSERT_EQ(KafkaScript("kill " + std::to_string(n)), 0);

    // Records that can no longer be delivered.
    Image image;
    std::atomic<int> failed{0};
    SendOptions options;
    options.on_delivery = [&](const DeliveryReport& r) { failed += r.status.ok() ? 0 : 1; };
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(producer->Send(Topic<Image>(member.topic), image, options).ok());

    absl::Status closed;
    auto took = Timed([&] { closed = member.consumer->Close(kCloseTimeout); });
    std::cerr << "consumer Close(3s) with every node killed: " << took.count() << " ms, " << closed
              << "\n";
    ExpectClosedOrTimedOut(closed, took, member.group);
    EXPECT_LE(took, kCloseBound);
    EXPECT_TRUE(member.consumer->Close(kCloseTimeout).ok()) << "a second Close is a no-op";
    auto released = Timed([&] { member.consumer.reset(); });
    std::cerr << "consumer released in " << released.count() << " ms\n";
    EXPECT_LE(released, kReleaseBound);

    took = Timed([&] {
      router.Stop();
      router_thread.join();
    });
    std::cerr << "router stopped in " << took.count() << " ms: " << router_status << "\n";
    EXPECT_TRUE(router_status.ok()) << router_status;
    // router.h: Run returns within the batch's handlers and commit (none: the router was idle) +
    // close_timeout; +50 ms for the poll it was in, then its consumer is released (the brokers
    // refuse connections: no request waits); +1.95 s of scheduling and librdkafka's thread joins.
    EXPECT_LE(took, kCloseTimeout + 2s);

    took = Timed([&] { producer.reset(); });
    std::cerr << "producer closed in " << took.count() << " ms\n";
    // producer.h: destruction flushes for close_timeout (2 s), then purges and serves the purge
    // reports for at most 50 x 10 ms; +1.5 s of scheduling.
    EXPECT_LE(took, pc.close_timeout + 500ms + 1500ms);
    EXPECT_EQ(failed.load(), 5) << "every undelivered record reported";
  }
  ExpectClusterServes(brokers, 90s);
}

// The consumer wakes librdkafka's fetcher when a full local queue drains (fetch_waker.h) with a
// request to the brokers. With every node killed that request cannot be sent: it must stay pending
// inside librdkafka, never block Poll, Close or the consumer's release. (An earlier wake-up used a
// watermark query, which blocked Poll for socket.timeout.ms in this situation.)
TEST(BrokerDown, PollStaysBoundedWhileAFetchWakeUpCannotReachAnyNode) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string topic = UniqueName("wake");
  CreateTopicOrFail(brokers, topic, 1, kNodes);
  {
    auto producer = MakeProducer(brokers);
    Image image;
    image.set_image_data(std::string(1024, 'w'));
    for (int i = 0; i < 2000; ++i) ASSERT_TRUE(producer->Send(Topic<Image>(topic), image).ok());
    ASSERT_TRUE(producer->Flush(30s).ok());
  }
  ConsumerConfig config;
  config.metrics = std::make_shared<Metrics>();
  config.max_batch = 5;
  config.properties["socket.timeout.ms"] = std::to_string(kSocketTimeout.count());
  config.properties["queued.max.messages.kbytes"] = "64";
  config.properties["max.partition.fetch.bytes"] = "65536";
  const std::string group = UniqueName("wake");
  auto consumer = MakeConsumer(brokers, {topic}, group, config);
  ASSERT_NE(consumer, nullptr);
  // Some records in: the queue has been seen full, the next drain wakes the fetcher.
  size_t got = PollUntil(*consumer, 100, 60s).size();
  ASSERT_EQ(got, 100u);
  const uint64_t wakeups_before = config.metrics->Get(Counter::kFetchWakeups);
  {
    RestartAll restart;
    for (int n = 1; n <= kNodes; ++n) ASSERT_EQ(KafkaScript("kill " + std::to_string(n)), 0);
    // Drain what was fetched (until 10 Polls in a row return nothing); every Poll returns within
    // its timeout.
    std::chrono::milliseconds slowest{0};
    for (int i = 0, empty = 0; i < 2000 && empty < 10; ++i) {
      absl::StatusOr<std::vector<ReceivedMessage>> batch;
      auto took = Timed([&] { batch = consumer->Poll(100ms); });
      slowest = std::max(slowest, took);
      ASSERT_TRUE(batch.ok()) << batch.status();
      got += batch->size();
      empty = batch->empty() ? empty + 1 : 0;
    }
    const uint64_t wakeups = config.metrics->Get(Counter::kFetchWakeups) - wakeups_before;
    std::cerr << "nodes killed: " << got << " records, " << wakeups
              << " wake-ups sent, slowest Poll(100ms) " << slowest.count() << " ms\n";
    if (FetchWakerNeeded()) {
      EXPECT_GE(wakeups, 1u) << "the drained queue sent a wake-up to the dead node";
    } else {
      EXPECT_EQ(wakeups, 0u) << "librdkafka >= 2.3 needs no fetch waker";
    }
    // Poll(100ms) with records queued or none: its timeout; a wake-up that blocked would take
    // socket.timeout.ms (10 s). 1 s leaves 900 ms of scheduling and still tells them apart.
    EXPECT_LE(slowest, 1s);

    absl::Status closed;
    auto took = Timed([&] { closed = consumer->Close(kCloseTimeout); });
    std::cerr << "consumer Close(3s): " << took.count() << " ms, " << closed << "\n";
    ExpectClosedOrTimedOut(closed, took, group);
    EXPECT_LE(took, kCloseBound);
    auto released = Timed([&] { consumer.reset(); });
    std::cerr << "consumer released in " << released.count() << " ms\n";
    EXPECT_LE(released, kReleaseBound);
  }
  ExpectClusterServes(brokers, 90s);
}

// SIGSTOP/SIGCONT every node (a frozen machine: connections stay open, nothing answers).
struct Freeze {
  std::vector<pid_t> pids;
  Freeze() {
    const char* state = std::getenv("MESSAGECORPS_KAFKA_STATE");
    if (state == nullptr) {
      ADD_FAILURE() << "MESSAGECORPS_KAFKA_STATE not set (run through ctest)";
      return;
    }
    for (int n = 1; n <= kNodes; ++n) {
      std::ifstream in(std::string(state) + "/node-" + std::to_string(n) + ".pid");
      pid_t pid = 0;
      if (in >> pid && pid > 0 && ::kill(pid, SIGSTOP) == 0) {
        pids.push_back(pid);
      } else {
        ADD_FAILURE() << "cannot freeze node " << n;
      }
    }
  }
  ~Freeze() {
    for (pid_t pid : pids) ::kill(pid, SIGCONT);
  }
};

TEST(BrokerDown, CloseReturnsInTimeWhileEveryNodeIsFrozen) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  Member member = JoinedMember(brokers);
  ASSERT_NE(member.consumer, nullptr);
  {
    Freeze freeze;
    ASSERT_EQ(freeze.pids.size(), static_cast<size_t>(kNodes));
    absl::Status closed;
    auto took = Timed([&] { closed = member.consumer->Close(kCloseTimeout); });
    std::cerr << "consumer Close(3s) with every node frozen: " << took.count() << " ms, " << closed
              << "\n";
    // Frozen nodes keep their connections open: librdkafka sends LeaveGroup and waits for an
    // answer that never comes (socket.timeout.ms, 10 s, is longer than the 3 s): a timeout.
    EXPECT_EQ(closed.code(), absl::StatusCode::kDeadlineExceeded) << closed;
    EXPECT_NE(closed.message().find("group " + member.group + " not left within 3000 ms"),
              std::string_view::npos)
        << closed;
    EXPECT_GE(took, kTimedOutAtLeast) << "returned before its timeout without leaving the group";
    EXPECT_LE(took, kCloseBound);
    auto released = Timed([&] { member.consumer.reset(); });
    std::cerr << "consumer released in " << released.count() << " ms\n";
    EXPECT_LE(released, kReleaseBound);
  }
  ExpectClusterServes(brokers, 90s);
}

}  // namespace
}  // namespace messagecorps
