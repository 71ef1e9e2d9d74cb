// The services' named parts (services/*/..._service.h, services/common): what each service builds
// from its options, in memory. The options component and the one client configuration: every
// client a service opens gets the program's -X/-F properties.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "capture/capture_service.h"
#include "common/service_router.h"
#include "common/topics.h"
#include "display/display_service.h"
#include "messagecorps/program/program.h"
#include "predict/predict_service.h"
#include "store/store_service.h"

namespace messagecorps::services {
namespace {

// A started Program from a command line (shared options only), or the test fails.
std::unique_ptr<program::Program> StartProgram(std::vector<std::string> args) {
  unsetenv("MESSAGECORPS_CLIENT_CONFIG");
  CLI::App app{"test"};
  program::ProgramOptions options;
  program::AddProgramOptions(app, options);
  std::vector<const char*> argv{"test"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  app.parse(static_cast<int>(argv.size()), const_cast<char**>(argv.data()));
  auto p = program::Program::Start("unit", options);
  EXPECT_TRUE(p.ok()) << p.status();
  return p.ok() ? std::move(*p) : nullptr;
}

TEST(ServiceRouterConfig, TheProgramsPropertiesReachTheConsumerTheOutputsAndTheDeadLetters) {
  auto p = StartProgram({"-b", "h:1", "-X", "security.protocol=SASL_SSL", "-X",
                         "session.timeout.ms=9000", "--service", "svc"});
  ASSERT_NE(p, nullptr);
  RouterConfig rc = ServiceRouterConfig(*p, "g", StartOffset::kEarliest);
  const ConsumerConfig consumer = RouterConsumerConfig(rc);
  const ProducerConfig producer = RouterProducerConfig(rc);  // outputs and dead letters
  EXPECT_EQ(consumer.brokers, "h:1");
  EXPECT_EQ(producer.brokers, "h:1");
  EXPECT_EQ(consumer.properties.at("security.protocol"), "SASL_SSL");
  EXPECT_EQ(producer.properties.at("security.protocol"), "SASL_SSL");
  // The user's -X wins over the live-video default; the other defaults are the consumer's only.
  EXPECT_EQ(consumer.properties.at("session.timeout.ms"), "9000");
  EXPECT_EQ(consumer.properties.at("fetch.wait.max.ms"), "10");
  EXPECT_EQ(producer.properties.count("fetch.wait.max.ms"), 0u);
  EXPECT_EQ(consumer.group_id, "g");
  EXPECT_EQ(consumer.start, StartOffset::kEarliest);
  EXPECT_EQ(consumer.logger, p->logger());
  EXPECT_EQ(producer.metrics, p->metrics());
  ASSERT_TRUE(producer.envelope.has_value());
  EXPECT_EQ(producer.envelope->service, "svc");
  EXPECT_EQ(rc.close_timeout, std::chrono::milliseconds(kServiceCloseTimeout));
}

TEST(DisplayConsumerConfig, ProgramPropertiesAndAGroupOfItsOwn) {
  auto p =
      StartProgram({"-b", "h:1", "-X", "auto.commit.interval.ms=250", "-X", "ssl.ca.location=ca"});
  ASSERT_NE(p, nullptr);
  DisplayOptions options;
  const ConsumerConfig cc = DisplayConsumerConfig(*p, options);
  EXPECT_EQ(cc.properties.at("ssl.ca.location"), "ca");
  EXPECT_EQ(cc.properties.at("auto.commit.interval.ms"), "250");  // -X wins
  EXPECT_EQ(cc.topics, (std::vector<std::string>{"VideoStream", "Predictions"}));
  EXPECT_EQ(cc.group_id.rfind("display-", 0), 0u);
  EXPECT_EQ(cc.commit, CommitMode::kAuto);
  options.group = "mine";
  EXPECT_EQ(DisplayConsumerConfig(*p, options).group_id, "mine");
}

TEST(CaptureParts, PlanChecksTheOptionsAndTheProducerGetsTheProgramsConfiguration) {
  CaptureOptions options;
  options.resolution = "640x480";
  auto plan = PlanCapture(options);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->width, 640);
  EXPECT_EQ(plan->height, 480);
  for (const char* bad : {"640", "0x480", "9000x10", "axb"}) {
    options.resolution = bad;
    EXPECT_EQ(PlanCapture(options).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  options.resolution.clear();
  options.wire = "nonsense";
  EXPECT_EQ(PlanCapture(options).status().code(), absl::StatusCode::kInvalidArgument);
  options.wire = "seed";
  options.synthetic = true;
  plan = PlanCapture(options);
  ASSERT_TRUE(plan.ok());
  auto source = OpenSource(options, *plan);
  ASSERT_TRUE(source.ok()) << source.status();
  auto p = StartProgram({"-b", "h:1", "-X", "linger.ms=3"});
  ASSERT_NE(p, nullptr);
  FramePublisher publisher(options, *plan, **source, p->logger());
  const ProducerConfig config = publisher.MakeProducerConfig(*p);
  EXPECT_EQ(config.properties.at("linger.ms"), "3");
  EXPECT_TRUE(config.on_delivery != nullptr);
  EXPECT_EQ(publisher.fps(), 10);  // a synthetic source has no rate of its own
  EXPECT_EQ(publisher.Summary()["sent"], 0);
}

TEST(PredictParts, DetectorSpecsAndRouterSettings) {
  PredictOptions options;
  EXPECT_EQ(DetectorSpecs(options), (std::vector<std::string>{"hog", "blazeface"}));
  options.onnx = "m.onnx";
  options.labels = "l.txt";
  EXPECT_EQ(DetectorSpecs(options),
            (std::vector<std::string>{
                "onnx:model=m.onnx,layout=yolo,size=640,threshold=0.5,labels=l.txt"}));
  options.detectors = {"hog"};
  EXPECT_EQ(DetectorSpecs(options).size(), 2u);
  options.detectors = {"no-such-detector"};
  options.onnx.clear();
  EXPECT_FALSE(MakeDetectors(options).ok());
  RouterConfig rc;
  options.count = 7;
  options.skip_to_latest = false;
  ApplyPredictOptions(options, rc);
  EXPECT_EQ(rc.max_records, 7u);
  EXPECT_FALSE(rc.skip_to_latest);
  EXPECT_EQ(PredictTopics(options).back().name, "VideoStream.DLQ");
}

TEST(StoreParts, TopicsIncludeBothDeadLetterTopics) {
  StoreOptions options;
  options.video_topic = "V";
  options.predictions_topic = "P";
  std::vector<std::string> names;
  for (const TopicSpec& t : StoreTopics(options)) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"V", "P", "V.DLQ", "P.DLQ"}));
}

TEST(TopicSpecs, DefaultsWhenNoneGivenAndTheFirstErrorOtherwise) {
  EXPECT_EQ(ParseTopicSpecs({}, DefaultTopics())->size(), 4u);
  auto two = ParseTopicSpecs({"a:2", "b"}, DefaultTopics());
  ASSERT_TRUE(two.ok());
  EXPECT_EQ((*two)[0].partitions, 2);
  EXPECT_EQ((*two)[1].partitions, 8);
  EXPECT_FALSE(ParseTopicSpecs({"a:0"}, {}).ok());
}

}  // namespace
}  // namespace messagecorps::services
