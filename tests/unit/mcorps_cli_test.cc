// mcorps without a broker: help, usage errors (exit 2), `types` (compiled-in types, descriptor
// sets, .proto files compiled at run time) and schema errors (exit 1). Runs the real binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include "unit/mcorps_subprocess.h"

namespace mcorps::testing {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::HasSubstr;

const std::string kSource =
    std::getenv("MESSAGECORPS_SOURCE_DIR") ? std::getenv("MESSAGECORPS_SOURCE_DIR") : ".";
// No broker runs on port 1: commands that get that far fail to connect.
const std::string kNoBroker = "127.0.0.1:1";

TEST(McorpsCli, EveryCommandHasHelpWithExamples) {
  const std::vector<std::vector<std::string>> commands = {{"produce"},
                                                          {"consume"},
                                                          {"topics"},
                                                          {"topics", "list"},
                                                          {"topics", "describe"},
                                                          {"topics", "create"},
                                                          {"topics", "delete"},
                                                          {"groups"},
                                                          {"groups", "list"},
                                                          {"groups", "describe"},
                                                          {"types"},
                                                          {"trace"},
                                                          {}};
  for (std::vector<std::string> args : commands) {
    args.push_back("--help");
    RunResult r = RunMcorps(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_THAT(r.out, HasSubstr("Usage:")) << Describe(r);
    EXPECT_THAT(r.out, ContainsRegex("Examples?:")) << Describe(r);
  }
}

TEST(McorpsCli, ParseErrorsExitWithTwo) {
  RunResult none = RunMcorps({});
  EXPECT_EQ(none.exit_code, 2) << Describe(none);
  RunResult unknown = RunMcorps({"consume", "-t", "x", "--no-such-option"});
  EXPECT_EQ(unknown.exit_code, 2) << Describe(unknown);
  EXPECT_THAT(unknown.err, HasSubstr("--no-such-option"));
  RunResult missing_topic = RunMcorps({"produce", "-b", kNoBroker});
  EXPECT_EQ(missing_topic.exit_code, 2) << Describe(missing_topic);
  EXPECT_THAT(missing_topic.err, HasSubstr("--topic is required"));
  RunResult bad_format = RunMcorps({"consume", "-b", kNoBroker, "-t", "x", "--format", "xml"});
  EXPECT_EQ(bad_format.exit_code, 2) << Describe(bad_format);
  RunResult bad_encoding = RunMcorps({"produce", "-b", kNoBroker, "-t", "x", "--encoding", "gzip"});
  EXPECT_EQ(bad_encoding.exit_code, 2) << Describe(bad_encoding);
}

TEST(McorpsCli, InconsistentOptionsExitWithTwo) {
  RunResult offset = RunMcorps({"consume", "-b", kNoBroker, "-t", "x", "-o", "yesterday"});
  EXPECT_EQ(offset.exit_code, 2) << Describe(offset);
  EXPECT_THAT(offset.err, HasSubstr("-o 'yesterday'"));
  RunResult group_offset = RunMcorps({"consume", "-b", kNoBroker, "-t", "x", "-G", "g", "-o", "5"});
  EXPECT_EQ(group_offset.exit_code, 2) << Describe(group_offset);
  RunResult property = RunMcorps({"consume", "-b", kNoBroker, "-t", "x", "-X", "novalue"});
  EXPECT_EQ(property.exit_code, 2) << Describe(property);
  EXPECT_THAT(property.err, HasSubstr("key=value"));
  RunResult trace = RunMcorps({"trace", "not-a-trace-id", "-b", kNoBroker, "-t", "x"});
  EXPECT_EQ(trace.exit_code, 2) << Describe(trace);
  EXPECT_THAT(trace.err, HasSubstr("not 32 hex digits"));
  RunResult since =
      RunMcorps({"trace", std::string(32, 'a'), "-b", kNoBroker, "-t", "x", "--since", "soon"});
  EXPECT_EQ(since.exit_code, 2) << Describe(since);
  EXPECT_THAT(since.err, HasSubstr("invalid duration 'soon'"));
  RunResult schema_id =
      RunMcorps({"produce", "-b", kNoBroker, "-t", "VideoStream", "--schema-id", "7"});
  EXPECT_EQ(schema_id.exit_code, 2) << Describe(schema_id);
  EXPECT_THAT(schema_id.err, HasSubstr("--encoding confluent"));
}

TEST(McorpsCli, NoBrokersIsAUsageError) {
  RunOptions options;
  options.env["MESSAGECORPS_BROKERS"] = std::nullopt;
  RunResult r = RunMcorps({"produce", "-t", "VideoStream"}, options);
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("MESSAGECORPS_BROKERS"));
}

TEST(McorpsCli, BrokersComeFromTheEnvironment) {
  RunOptions options;
  options.env["MESSAGECORPS_BROKERS"] = kNoBroker;
  RunResult r = RunMcorps({"topics", "list", "--timeout", "2"}, options);
  EXPECT_EQ(r.exit_code, 1) << Describe(r);  // got as far as connecting to it
  EXPECT_THAT(r.err, HasSubstr("mcorps: error:"));
}

TEST(McorpsCli, TypesListsTheSeedBindings) {
  RunResult r = RunMcorps({"types"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("VideoStream\tprotobuf.data.Image\tencoding=seed\n"));
  EXPECT_THAT(r.out, HasSubstr("Predictions\tprotobuf.predictions.Prediction\tencoding=seed\n"));
}

TEST(McorpsCli, TypesPrintsFieldNumbersAndTypes) {
  RunResult r = RunMcorps({"types", "protobuf.data.Image"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, AllOf(ContainsRegex("\n +1 +image_data +bytes\n"),
                           ContainsRegex("\n +4 +frame +int64\n"),
                           ContainsRegex("\n +5 +_message_data +protobuf.common.messageData\n")));
}

TEST(McorpsCli, TypesFromADescriptorSet) {
  RunResult r =
      RunMcorps({"types", "acme.SensorReading", "--descriptors", MCORPS_ACME_DESCRIPTOR_SET});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, AllOf(ContainsRegex("\n +4 +samples +repeated int32\n"),
                           ContainsRegex("\n +5 +labels +map<string, string>\n"),
                           ContainsRegex("\n +15 +_message_data +protobuf.common.messageData\n")));
  RunResult all = RunMcorps({"types", "--all", "--descriptors", MCORPS_ACME_DESCRIPTOR_SET});
  ASSERT_EQ(all.exit_code, 0) << Describe(all);
  EXPECT_THAT(all.out, AllOf(HasSubstr("acme.SensorBatch\n"), HasSubstr("protobuf.data.Image\n")));
}

TEST(McorpsCli, TypesFromAProtoCompiledAtRunTime) {
  RunResult r = RunMcorps({"types", "acme.SensorReading", "--proto-path",
                           kSource + "/tests/data/proto", "--proto", "acme/sensor.proto"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_THAT(r.out, ContainsRegex("\n +6 +calibration +acme.SensorReading.Calibration\n"));
}

TEST(McorpsCli, UnknownTypeIsAnError) {
  RunResult r = RunMcorps({"types", "acme.Nope"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("unknown message type 'acme.Nope'"));
}

TEST(McorpsCli, ProtoThatDoesNotCompileNamesFileAndLine) {
  char dir[] = "/tmp/mcorps-cli-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  const std::string file = std::string(dir) + "/broken.proto";
  std::ofstream(file) << "syntax = \"proto3\";\nmessage Broken {\n  strin name = 1;\n}\n";
  RunResult r = RunMcorps({"types", "--proto-path", dir, "--proto", "broken.proto"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("broken.proto:3:"));
  RunResult missing = RunMcorps({"types", "--proto-path", dir, "--proto", "absent.proto"});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("absent.proto"));
  std::remove(file.c_str());
  rmdir(dir);
}

TEST(McorpsCli, MissingDescriptorFileIsAUsageError) {
  RunResult r = RunMcorps({"types", "--descriptors", "/nonexistent/x.desc"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/x.desc"));
}

TEST(McorpsCli, MalformedPropertiesFileNamesTheLineAndExitsWithTwo) {
  const std::string file = "/tmp/mcorps_cli_test_" + std::to_string(::getpid()) + ".properties";
  {
    std::ofstream out(file);
    out << "acks=all\n# comment\nno equals sign\n";
  }
  RunResult r = RunMcorps({"produce", "-b", kNoBroker, "-t", "VideoStream", "-F", file});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_THAT(r.err,
              HasSubstr(file + ":3: property 'no equals sign' is not of the form key=value"));
  RunResult missing =
      RunMcorps({"produce", "-b", kNoBroker, "-t", "VideoStream", "-F", file + ".x"});
  EXPECT_EQ(missing.exit_code, 2) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr(file + ".x"));
  // A device given by mistake is read up to the size limit, not for ever.
  RunResult device =
      RunMcorps({"produce", "-b", kNoBroker, "-t", "VideoStream", "-F", "/dev/zero"});
  EXPECT_EQ(device.exit_code, 2) << Describe(device);
  EXPECT_THAT(device.err, HasSubstr("/dev/zero is larger than 1048576 bytes"));
  std::remove(file.c_str());
}

TEST(McorpsCli, UnknownKafkaPropertyIsNamedAndExitsWithOne) {
  RunResult r =
      RunMcorps({"produce", "-b", kNoBroker, "-t", "VideoStream", "-X", "no.such.property=1"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("no.such.property"));
}

}  // namespace
}  // namespace mcorps::testing
