// Router logic: registration rules and middleware (Retry, PropagateTrace, Logging, Metrics) in
// memory, on records made by messagecorps/testing.h; dead-lettering, commit-after-processing,
// skip_to_latest, middleware order and the one client configuration of a running router on the
// embedded broker (librdkafka's mock cluster, in process). Delivery guarantees themselves are
// tested on a real Kafka (tests/integration/router_integration_test.cc).
#include "messagecorps/router.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "messagecorps/embedded_broker.h"
#include "messagecorps/error.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/testing.h"
#include "support/kafka_test_env.h"

namespace messagecorps {
namespace {

using namespace std::chrono_literals;
using protobuf::data::Image;
using protobuf::predictions::Prediction;
using testing::MakeConsumer;
using testing::MakeProducer;
using testing::PollUntil;
using testing::UniqueName;

// ---- registration (no broker) ----

HandlerResult Nothing(ReceivedMessage&) { return std::vector<Outgoing>{}; }

TEST(RouterRegistration, DuplicateHandlerNameIsAlreadyExistsNotAnAbort) {
  Router router({});
  ASSERT_TRUE(router.AddHandler("h", {"a"}, Nothing).ok());
  EXPECT_EQ(router.AddHandler("h", {"b"}, Nothing).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(router
                .Handle("h", seed::VideoStream(),
                        [](const Image&, const ReceivedMessage&) -> HandlerResult {
                          return std::vector<Outgoing>{};
                        })
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(router.AddHandler("h2", {"a"}, Nothing).ok());
}

TEST(RouterRegistration, RejectsIncompleteHandlersAndMiddleware) {
  Router router({});
  EXPECT_EQ(router.AddHandler("", {"a"}, Nothing).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.AddHandler("h", {}, Nothing).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.AddHandler("h", {"a", ""}, Nothing).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.AddHandler("h", {"a"}, Handler{}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.AddHandler("h", {"a"}, Nothing, {Middleware{}}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(router.Use(Middleware{}).code(), absl::StatusCode::kInvalidArgument);
}

TEST(RouterRegistration, RunWithoutHandlersIsInvalidArgument) {
  RouterConfig config;
  config.client.brokers = "127.0.0.1:1";
  Router router(config);
  EXPECT_EQ(router.Run().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(router.running());
}

TEST(RouterRegistration, TypedHandleChecksAForeignRegistry) {
  TypeRegistry registry = TypeRegistry::WithSeedDefaults();
  RouterConfig config;
  config.consumer.registry = &registry;
  Router router(config);
  auto fn = [](const Image&, const ReceivedMessage&) -> HandlerResult {
    return std::vector<Outgoing>{};
  };
  EXPECT_TRUE(router.Handle("seed", seed::VideoStream(), fn).ok());
  // Not bound in the caller's registry, which the router must not change.
  EXPECT_EQ(router.Handle("other", Topic<Image>("frames"), fn).code(),
            absl::StatusCode::kInvalidArgument);
  // Bound, but to another type.
  EXPECT_EQ(router.Handle("wrong", Topic<Image>(seed::kPredictions), fn).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RouterRegistration, OutgoingOfTakesTopicNameAndEncoding) {
  TopicOptions raw;
  raw.encoding = Encoding::kRaw;
  Prediction p;
  p.set_frame(3);
  Outgoing out = Outgoing::Of(Topic<Prediction>("preds", raw), p);
  EXPECT_EQ(out.topic, "preds");
  EXPECT_EQ(out.encoding.encoding, Encoding::kRaw);
  ASSERT_NE(out.message, nullptr);
  EXPECT_EQ(dynamic_cast<Prediction&>(*out.message).frame(), 3);
  EXPECT_EQ(out.trace, OutgoingTrace::kDefault);
  EXPECT_FALSE(out.key.has_value());
}

// ---- on the embedded broker ----

class RouterOnEmbeddedBroker : public ::testing::Test {
 protected:
  void SetUp() override {
    auto broker = EmbeddedBroker::Start();
    ASSERT_TRUE(broker.ok()) << broker.status();
    broker_ = std::move(*broker);
    producer_ = MakeProducer(brokers());
    ASSERT_NE(producer_, nullptr);
  }

  const std::string& brokers() const { return broker_->bootstrap_servers(); }

  void CreateTopic(const std::string& name, int partitions) {
    ASSERT_TRUE(broker_->CreateTopic(name, partitions).ok());
  }

  RouterConfig Config() {
    RouterConfig config;
    config.client.brokers = brokers();
    config.consumer.group_id = UniqueName("router");
    config.consumer.start = StartOffset::kEarliest;
    config.consumer_properties["session.timeout.ms"] = "6000";
    config.consumer_properties["heartbeat.interval.ms"] = "500";
    config.producer_instance = producer_.get();
    config.poll_timeout = 50ms;
    return config;
  }

  // Runs `router` on a thread until `done()` holds (or 30 s), then stops it.
  absl::Status RunUntil(Router& router, const std::function<bool()>& done,
                        std::chrono::milliseconds timeout = 30s) {
    absl::Status status;
    std::atomic<bool> finished{false};
    std::jthread thread([&](std::stop_token stop) {
      status = router.Run(stop);
      finished = true;
    });
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done() && !finished && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(done()) << "condition not reached; router stats: received "
                        << router.Stats().received;
    router.Stop();
    thread.join();
    return status;
  }

  std::unique_ptr<EmbeddedBroker> broker_;
  std::unique_ptr<Producer> producer_;
};

// Middleware called directly on one record made in memory (messagecorps/testing.h): no broker.
class MiddlewareOnARecord : public ::testing::Test {
 protected:
  void SetUp() override {
    Image image;
    image.set_frame(1);
    record_ = std::make_unique<ReceivedMessage>(
        testing::MakeReceivedMessage(image, {.topic = "one", .partition = 2, .offset = 41}));
    ASSERT_TRUE(record_->decode_status().ok()) << record_->decode_status();
  }

  std::unique_ptr<ReceivedMessage> record_;
};

TEST_F(MiddlewareOnARecord, RetryRepeatsUntilSuccessWithinMaxAttempts) {
  ReceivedMessage& record = *record_;
  int calls = 0;
  Handler flaky = [&](ReceivedMessage&) -> HandlerResult {
    if (++calls < 3) return absl::UnavailableError("not yet");
    return std::vector<Outgoing>{};
  };
  auto metrics = std::make_shared<Metrics>();
  // Metrics outside Retry: one observation, the two repeats counted as retries, no error.
  Handler chain = middleware::Metrics(metrics)(middleware::Retry(5, 1ms, 2ms)(flaky));
  EXPECT_TRUE(chain(record).ok());
  EXPECT_EQ(calls, 3);
  MetricsSnapshot snap = metrics->Snapshot();
  EXPECT_EQ(snap.retries, 2u);
  EXPECT_EQ(snap.handler_errors, 0u);
  EXPECT_EQ(snap.handler_count, 1u);

  // Always failing: exactly max_attempts calls, the last error returned.
  calls = 0;
  Handler broken = [&](ReceivedMessage&) -> HandlerResult {
    ++calls;
    return absl::InternalError("broken");
  };
  auto inner = std::make_shared<Metrics>();
  // Metrics inside Retry: every call observed and counted, repeats counted as retries.
  Handler chain2 = middleware::Retry(3, 0ms, 0ms)(middleware::Metrics(inner)(broken));
  auto result = chain2(record);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(calls, 3);
  snap = inner->Snapshot();
  EXPECT_EQ(snap.handler_count, 3u);
  EXPECT_EQ(snap.handler_errors, 3u);
  EXPECT_EQ(snap.retries, 2u);

  // max_attempts < 1 still calls once.
  calls = 0;
  EXPECT_FALSE(middleware::Retry(0, 0ms, 0ms)(broken)(record).ok());
  EXPECT_EQ(calls, 1);
}

TEST_F(MiddlewareOnARecord, RetryBacksOffExponentiallyUpToTheCap) {
  ReceivedMessage& record = *record_;
  int calls = 0;
  Handler broken = [&](ReceivedMessage&) -> HandlerResult {
    ++calls;
    return absl::InternalError("broken");
  };
  // The back-offs are recorded instead of slept: the sequence is exact, whatever the scheduler.
  std::vector<std::chrono::milliseconds> slept;
  middleware::RetryPolicy policy{.max_attempts = 5,
                                 .initial_backoff = 40ms,
                                 .max_backoff = 100ms,
                                 .sleep = [&](std::chrono::milliseconds d) { slept.push_back(d); }};
  EXPECT_FALSE(middleware::Retry(policy)(broken)(record).ok());
  EXPECT_EQ(calls, 5);
  // Doubled each time, capped at max_backoff (160 ms and 320 ms otherwise); none after the last.
  EXPECT_EQ(slept, (std::vector<std::chrono::milliseconds>{40ms, 80ms, 100ms, 100ms}));

  // A zero back-off does not wait at all.
  slept.clear();
  policy.initial_backoff = 0ms;
  policy.max_backoff = 0ms;
  EXPECT_FALSE(middleware::Retry(policy)(broken)(record).ok());
  EXPECT_TRUE(slept.empty());
}

TEST_F(MiddlewareOnARecord, RetryWithoutAnInjectedSleepReallyWaits) {
  ReceivedMessage& record = *record_;
  Handler broken = [](ReceivedMessage&) -> HandlerResult { return absl::InternalError("broken"); };
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(middleware::Retry(3, 20ms, 30ms)(broken)(record).ok());
  // 20 + 30 ms of back-off at least; only a lower bound: a loaded machine may take longer.
  EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
}

TEST_F(MiddlewareOnARecord, PropagateTraceMarksDefaultOutputsDerived) {
  ReceivedMessage& record = *record_;
  Handler two = [](ReceivedMessage&) -> HandlerResult {
    std::vector<Outgoing> out(2);
    out[1].trace = OutgoingTrace::kNew;
    return out;
  };
  auto result = middleware::PropagateTrace()(two)(record);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ((*result)[0].trace, OutgoingTrace::kDerived);
  EXPECT_EQ((*result)[1].trace, OutgoingTrace::kNew);  // an explicit choice is kept
}

TEST_F(MiddlewareOnARecord, LoggingPutsTheRecordInTheLogContext) {
  ReceivedMessage& record = *record_;
  std::string topic, trace_id;
  int32_t partition = -1;
  int64_t offset = -1;
  Handler look = [&](ReceivedMessage&) -> HandlerResult {
    const logging::LogContext* ctx = logging::CurrentLogContext();
    if (ctx == nullptr) return absl::InternalError("no log context");
    topic = std::string(ctx->topic);
    trace_id = std::string(ctx->trace_id);
    partition = ctx->partition;
    offset = ctx->offset;
    return std::vector<Outgoing>{};
  };
  auto logger = logging::MakeLogger("router-test", logging::Format::kConsole);
  ASSERT_TRUE(middleware::Logging(logger)(look)(record).ok());
  EXPECT_EQ(topic, record.topic());
  EXPECT_EQ(partition, record.partition());
  EXPECT_EQ(offset, record.offset());
  EXPECT_EQ(trace_id, record.trace().trace_id());
  EXPECT_EQ(trace_id.size(), 32u);
  EXPECT_EQ(logging::CurrentLogContext(), nullptr);  // closed again
}

TEST_F(RouterOnEmbeddedBroker, DeadLetterPublisherCopiesTheRecordAndSaysWhy) {
  CreateTopic("one.DLQ", 1);
  Image image;
  image.set_frame(1);
  auto record = std::make_unique<ReceivedMessage>(
      testing::MakeReceivedMessage(image, {.topic = "one", .partition = 2, .offset = 41}));
  const ReceivedMessage& original = *record;
  auto producer = MakeProducer(brokers());
  ASSERT_NE(producer, nullptr);
  auto metrics = std::make_shared<Metrics>();
  DeadLetterConfig config;
  config.metrics = metrics;
  DeadLetterPublisher dlq(*producer, config);
  EXPECT_EQ(dlq.TopicFor("one"), "one.DLQ");
  DeadLetterConfig suffixed;
  suffixed.suffix = "-dead";
  EXPECT_EQ(DeadLetterPublisher(*producer, suffixed).TopicFor("one"), "one-dead");
  DeadLetterConfig single;
  single.topic = "parking";
  EXPECT_EQ(DeadLetterPublisher(*producer, single).TopicFor("one"), "parking");

  auto report = dlq.Publish(original, dead_letter_reason::kHandler, absl::InternalError("boom"));
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->topic, "one.DLQ");
  EXPECT_GE(report->offset, 0);
  EXPECT_EQ(dlq.published(), 1u);
  EXPECT_EQ(dlq.failed(), 0u);
  EXPECT_EQ(metrics->Get(Counter::kDeadLettered), 1u);

  auto reader = MakeConsumer(brokers(), {"one.DLQ"}, "dlq-reader");
  auto got = PollUntil(*reader, 1, 30s);
  ASSERT_EQ(got.size(), 1u);
  const ReceivedMessage& dead = got[0];
  EXPECT_EQ(dead.value(), original.value()) << "the original bytes, not re-encoded";
  EXPECT_FALSE(dead.key().has_value());
  // The original headers first, in order, then why and where from.
  Headers original_headers = original.headers(), headers = dead.headers();
  ASSERT_EQ(headers.size(), original_headers.size() + 5);
  for (size_t i = 0; i < original_headers.size(); ++i) EXPECT_EQ(headers[i], original_headers[i]);
  EXPECT_EQ(dead.header(header::kDlqReason).value_or(""), "handler");
  EXPECT_EQ(dead.header(header::kDlqError).value_or(""), "INTERNAL: boom");
  EXPECT_EQ(dead.header(header::kDlqTopic).value_or(""), "one");
  EXPECT_EQ(dead.header(header::kDlqPartition).value_or(""), std::to_string(original.partition()));
  EXPECT_EQ(dead.header(header::kDlqOffset).value_or(""), std::to_string(original.offset()));
  // Still the same Image, same trace: replayable as is.
  ASSERT_TRUE(dead.decode_status().ok()) << dead.decode_status();
  EXPECT_EQ(dead.trace().trace_id(), original.trace().trace_id());
}

TEST_F(RouterOnEmbeddedBroker, MiddlewareFirstUsedIsOutermostAndHandlerOwnIsInnermost) {
  const std::string frames = UniqueName("frames");
  CreateTopic(frames, 1);
  Image image;
  ASSERT_TRUE(producer_->SendSync(Topic<Image>(frames), image).ok());

  std::mutex mu;
  std::vector<std::string> order;
  auto tag = [&](std::string name) -> Middleware {
    return [&, name](Handler next) -> Handler {
      return [&, name, next](ReceivedMessage& r) -> HandlerResult {
        {
          std::lock_guard lock(mu);
          order.push_back(name);
        }
        return next(r);
      };
    };
  };
  Router router(Config());
  ASSERT_TRUE(router.Use(tag("a")).ok());
  ASSERT_TRUE(router.Use(tag("b")).ok());
  ASSERT_TRUE(router
                  .AddHandler("h", {frames},
                              [&](ReceivedMessage&) -> HandlerResult {
                                std::lock_guard lock(mu);
                                order.push_back("handler");
                                return std::vector<Outgoing>{};
                              },
                              {tag("own")})
                  .ok());
  EXPECT_TRUE(RunUntil(router, [&] { return router.Stats().handled == 1; }).ok());
  EXPECT_EQ(order, (std::vector<std::string>{"a", "b", "own", "handler"}));
}

TEST_F(RouterOnEmbeddedBroker, ImagesBecomePredictionsAndGarbageIsDeadLettered) {
  const std::string frames = UniqueName("frames"), preds = UniqueName("preds");
  CreateTopic(frames, 2);
  CreateTopic(preds, 1);
  CreateTopic(frames + ".DLQ", 1);
  Topic<Image> frames_topic(frames);
  Topic<Prediction> preds_topic(preds);

  constexpr int kGood = 20;
  for (int i = 0; i < kGood; ++i) {
    Image image;
    image.set_frame(i);
    ASSERT_TRUE(producer_->Send(frames_topic, image).ok());
  }
  SendOptions keyed;
  keyed.key = "garbage-key";
  ASSERT_TRUE(producer_->SendEncoded(frames, std::string("\x0f\x01\x02\x03", 4), keyed).ok());
  Prediction wrong_type;
  ASSERT_TRUE(producer_->Send(Topic<Prediction>(frames), wrong_type).ok());
  ASSERT_TRUE(producer_->Flush(10s).ok());

  auto metrics = std::make_shared<Metrics>();
  RouterConfig config = Config();
  config.client.metrics = metrics;
  Router router(config);
  ASSERT_TRUE(router
                  .Handle("predict", frames_topic,
                          [&](const Image& image, const ReceivedMessage&) -> HandlerResult {
                            Prediction p;
                            p.set_frame(image.frame());
                            p.add_object("cat");
                            std::vector<Outgoing> out;
                            out.push_back(Outgoing::Of(preds_topic, std::move(p)));
                            return out;
                          })
                  .ok());
  ASSERT_TRUE(RunUntil(router, [&] {
                return router.Stats().handled + router.Stats().dead_lettered == 22;
              }).ok());
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.received, 22u);
  EXPECT_EQ(stats.handled, 20u);
  EXPECT_EQ(stats.dead_lettered, 2u);
  EXPECT_EQ(stats.published, 20u);
  EXPECT_EQ(stats.received, stats.handled + stats.dead_lettered + stats.skipped);
  EXPECT_GE(stats.commits, 1u);
  EXPECT_EQ(metrics->Get(Counter::kDeadLettered), 2u);

  // One reader for the predictions and the dead letters.
  auto reader = MakeConsumer(brokers(), {preds, frames + ".DLQ"}, UniqueName("reader"));
  auto got = PollUntil(*reader, kGood + 2, 30s);
  ASSERT_EQ(got.size(), static_cast<size_t>(kGood + 2));
  std::set<int64_t> seen;
  std::set<std::string> reasons;
  size_t dead = 0;
  for (const auto& m : got) {
    if (m.topic() == preds) {
      ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
      seen.insert(m.As<Prediction>()->frame());
      continue;
    }
    ++dead;
    reasons.insert(std::string(m.header(header::kDlqReason).value_or("")));
    EXPECT_EQ(m.header(header::kDlqTopic).value_or(""), frames);
    if (m.key()) {
      EXPECT_EQ(*m.key(), "garbage-key");
      EXPECT_EQ(m.value(), std::string_view("\x0f\x01\x02\x03", 4));
    }
  }
  EXPECT_EQ(seen.size(), static_cast<size_t>(kGood));
  EXPECT_EQ(dead, 2u);
  EXPECT_EQ(reasons, (std::set<std::string>{"decode"}));

  // Everything was committed: a new router in the same group gets nothing.
  RouterConfig again_config = Config();
  again_config.consumer.group_id = config.consumer.group_id;
  Router again(again_config);
  ASSERT_TRUE(again.AddHandler("count", {frames}, Nothing).ok());
  absl::Status status;
  std::jthread thread([&](std::stop_token stop) { status = again.Run(stop); });
  // Join the group, then give it time to fetch from the committed offsets.
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline &&
         (again.consumer() == nullptr || again.consumer()->Assignment().empty())) {
    std::this_thread::sleep_for(50ms);
  }
  std::this_thread::sleep_for(1s);
  again.Stop();
  thread.join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(again.Stats().received, 0u);
}

// One client configuration for every client of the router: a property set once in
// RouterConfig::client (here client.id, which librdkafka puts in each handle's name, visible in
// the statistics) reaches the consumer and the router's one producer, which publishes both the
// handler's outputs and the dead letters; a per-side property overrides it for that side only.
TEST_F(RouterOnEmbeddedBroker, OneClientConfigurationNamesEveryClientOfTheRouter) {
  const std::string frames = UniqueName("frames");
  CreateTopic(frames, 1);
  Image image;
  ASSERT_TRUE(producer_->SendSync(Topic<Image>(frames), image).ok());

  const std::string id = UniqueName("one-config");
  auto metrics = std::make_shared<Metrics>();
  RouterConfig config = Config();
  config.producer_instance = nullptr;  // the router builds its producer from config.client
  config.client.properties["client.id"] = id;
  config.client.statistics_interval = 100ms;
  config.client.metrics = metrics;
  config.consumer_properties["client.id"] = id + "-in";  // this side only
  Router router(config);
  ASSERT_TRUE(router.AddHandler("h", {frames}, Nothing).ok());
  // The clients' statistics while the router runs (a client's gauges go when it is destroyed).
  std::vector<ClientGauges> clients;
  ASSERT_TRUE(RunUntil(router, [&] {
                clients = metrics->Snapshot().clients;
                return router.Stats().handled == 1 && clients.size() == 2;
              }).ok());
  ASSERT_EQ(clients.size(), 2u);
  std::map<std::string, std::string> name_of_type;  // one consumer and one producer
  for (const ClientGauges& c : clients) name_of_type[c.type] = c.name;
  EXPECT_EQ(name_of_type["consumer"].rfind(id + "-in#consumer-", 0), 0u)
      << name_of_type["consumer"];
  EXPECT_EQ(name_of_type["producer"].rfind(id + "#producer-", 0), 0u) << name_of_type["producer"];
  // Run is over: its clients are gone, and so are their gauges.
  EXPECT_TRUE(metrics->Snapshot().clients.empty());
}

// A property given once (message.max.bytes, the largest record a producer sends) limits the
// handler's outputs and the dead letters alike: an output over it is refused, so its record is
// dead-lettered ("publish"); a dead letter over it is refused, so Run stops with that reason and
// commits nothing of the batch.
TEST_F(RouterOnEmbeddedBroker, AClientPropertyReachesTheOutputAndTheDeadLetterProducer) {
  const std::string frames = UniqueName("frames"), preds = UniqueName("preds");
  CreateTopic(frames, 1);
  CreateTopic(preds, 1);
  CreateTopic(frames + ".DLQ", 1);
  std::string noise(3000, 'a');  // random letters: zlib leaves them over 1000 bytes
  uint32_t x = 12345;
  for (char& c : noise) c = static_cast<char>('a' + ((x = x * 1103515245 + 12345) >> 16) % 26);
  Image small;
  small.set_frame(1);
  ASSERT_TRUE(producer_->Send(Topic<Image>(frames), small).ok());
  ASSERT_TRUE(producer_->SendEncoded(frames, noise).ok());  // 3000 bytes that do not decode
  ASSERT_TRUE(producer_->Flush(10s).ok());

  RouterConfig config = Config();
  config.producer_instance = nullptr;
  config.client.properties["message.max.bytes"] = "1000";  // librdkafka's smallest
  Router router(config);
  ASSERT_TRUE(router
                  .Handle("big-output", Topic<Image>(frames),
                          [&](const Image& in, const ReceivedMessage&) -> HandlerResult {
                            Prediction p;
                            p.set_frame(in.frame());
                            p.add_object(noise);
                            std::vector<Outgoing> out;
                            out.push_back(Outgoing::Of(Topic<Prediction>(preds), std::move(p)));
                            return out;
                          })
                  .ok());
  absl::Status status;
  std::atomic<bool> finished{false};
  std::jthread thread([&](std::stop_token stop) {
    status = router.Run(stop);
    finished = true;
  });
  // Run ends by itself: the second record's dead letter is refused. 60 s: the group join (~3 s on
  // the embedded broker) and two deliveries, with room for a loaded machine; past it the router
  // is stopped and the test fails instead of hanging.
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!finished && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(50ms);
  EXPECT_TRUE(finished) << "Run did not stop on the refused dead letter";
  router.Stop();
  thread.join();
  EXPECT_EQ(GetErrorReason(status), ErrorReason::kRecordTooLarge) << status;
  EXPECT_EQ(router.Stats().published, 0u);
  EXPECT_EQ(router.Stats().commits, 0u);

  // The first record's dead letter (small: the original Image) went through.
  auto reader = MakeConsumer(brokers(), {frames + ".DLQ"}, UniqueName("dlq"));
  auto dead = PollUntil(*reader, 1, 30s);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].header(header::kDlqReason).value_or(""), "publish");
  EXPECT_EQ(dead[0].header(header::kDlqOffset).value_or(""), "0");
}

TEST_F(RouterOnEmbeddedBroker, FailingHandlerGoesToDeadLetterWithItsReason) {
  const std::string frames = UniqueName("frames");
  CreateTopic(frames, 1);
  CreateTopic(frames + "-dead", 1);
  for (int i = 0; i < 4; ++i) {
    Image image;
    image.set_frame(i);
    ASSERT_TRUE(producer_->Send(Topic<Image>(frames), image).ok());
  }
  ASSERT_TRUE(producer_->Flush(10s).ok());
  RouterConfig config = Config();
  config.dead_letter.topic = frames + "-dead";
  Router router(config);
  ASSERT_TRUE(router.Use(middleware::Retry(2, 1ms, 1ms)).ok());
  ASSERT_TRUE(router
                  .Handle("odd-fails", Topic<Image>(frames),
                          [](const Image& image, const ReceivedMessage&) -> HandlerResult {
                            if (image.frame() % 2)
                              return absl::FailedPreconditionError("odd frame");
                            return std::vector<Outgoing>{};
                          })
                  .ok());
  ASSERT_TRUE(RunUntil(router, [&] {
                return router.Stats().handled + router.Stats().dead_lettered == 4;
              }).ok());
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.handled, 2u);
  EXPECT_EQ(stats.dead_lettered, 2u);
  EXPECT_EQ(stats.handler_errors, 2u);
  EXPECT_EQ(stats.retries, 2u);

  auto dlq = MakeConsumer(brokers(), {frames + "-dead"}, UniqueName("dlq"));
  auto dead = PollUntil(*dlq, 2, 30s);
  ASSERT_EQ(dead.size(), 2u);
  for (const auto& m : dead) {
    EXPECT_EQ(m.header(header::kDlqReason).value_or(""), "handler");
    EXPECT_NE(m.header(header::kDlqError).value_or("").find("odd frame"), std::string_view::npos);
    EXPECT_NE(m.header(header::kDlqError).value_or("").find("odd-fails"), std::string_view::npos);
    // Original value and headers are kept: the DLQ record still decodes as the Image it was.
    ASSERT_TRUE(m.decode_status().ok()) << m.decode_status();
    EXPECT_EQ(m.As<Image>()->frame() % 2, 1);
    // The default header set (traceparent) is kept, and the value still names its type.
    EXPECT_EQ(m.header(header::kTraceparent).value_or("").substr(3, 32),
              m.As<Image>()->_message_data().trace_id());
    EXPECT_EQ(m.As<Image>()->_message_data().type(), "protobuf.data.Image");
  }
}

TEST_F(RouterOnEmbeddedBroker, SkipToLatestHandlesTheNewestOfEachPartitionPerBatch) {
  const std::string frames = UniqueName("frames");
  CreateTopic(frames, 1);
  constexpr int kCount = 50;
  for (int i = 0; i < kCount; ++i) {
    Image image;
    image.set_frame(i);
    ASSERT_TRUE(producer_->Send(Topic<Image>(frames), image).ok());
  }
  ASSERT_TRUE(producer_->Flush(10s).ok());
  auto metrics = std::make_shared<Metrics>();
  RouterConfig config = Config();
  config.skip_to_latest = true;
  config.client.metrics = metrics;
  config.poll_timeout = 500ms;  // all 50 records in one batch, most likely
  Router router(config);
  std::mutex mu;
  std::vector<int64_t> handled;
  ASSERT_TRUE(router
                  .Handle("latest", Topic<Image>(frames),
                          [&](const Image& image, const ReceivedMessage&) -> HandlerResult {
                            std::lock_guard lock(mu);
                            handled.push_back(image.frame());
                            return std::vector<Outgoing>{};
                          })
                  .ok());
  ASSERT_TRUE(RunUntil(router, [&] {
                RouterStats s = router.Stats();
                return s.handled + s.skipped == kCount;
              }).ok());
  RouterStats stats = router.Stats();
  EXPECT_EQ(stats.handled + stats.skipped, static_cast<uint64_t>(kCount));
  EXPECT_GT(stats.skipped, 0u);
  EXPECT_EQ(metrics->Get(Counter::kSkipped), stats.skipped);
  ASSERT_FALSE(handled.empty());
  EXPECT_EQ(handled.back(), kCount - 1);  // the newest is never skipped
  EXPECT_TRUE(std::is_sorted(handled.begin(), handled.end()));
}

}  // namespace
}  // namespace messagecorps
