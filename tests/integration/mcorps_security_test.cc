// mcorps on the secured broker (fixture kafka_security), through the real binary and the client
// files scripts/kafka start --security wrote: topics list, produce and consume with -F over each
// listener; a wrong password fails fast naming authentication; the password appears in no output,
// even with -vv and librdkafka's debug logging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "messagecorps/client_config.h"
#include "messagecorps/version.h"
#include "support/kafka_test_env.h"
#include "support/secured_cluster.h"
#include "unit/mcorps_subprocess.h"

namespace mcorps::testing {
namespace {

using messagecorps::testing::CreateTopicOrFail;
using messagecorps::testing::SecuredClientFile;
using messagecorps::testing::SecuredPassword;
using messagecorps::testing::SecuredPlaintextBrokers;
using messagecorps::testing::SecuredStateDir;
using messagecorps::testing::UniqueName;
using ::testing::HasSubstr;

bool ListenerWorksHere(const std::string& listener) {
  // SCRAM needs librdkafka 2.6.1 (librdkafka #4895); the refusal on older ones is tested below.
  return listener.rfind("scram", 0) != 0 || messagecorps::LibrdkafkaAtLeast(2, 6, 1);
}

void ExpectNoPassword(const RunResult& r, const std::string& password) {
  ASSERT_GE(password.size(), 16u);
  EXPECT_EQ(r.out.find(password), std::string::npos) << "password on stdout";
  EXPECT_EQ(r.err.find(password), std::string::npos) << "password on stderr";
}

class McorpsSecurity : public ::testing::TestWithParam<std::string> {};

// Acceptance check of issue 12: `mcorps topics list -F FILE` exits 0 with every printed file.
TEST_P(McorpsSecurity, TopicsListProduceConsumeWithPropertiesFile) {
  const std::string listener = GetParam();
  const std::string file = SecuredClientFile(listener);
  const std::string password = SecuredPassword();
  RunOptions env;
  env.env["MESSAGECORPS_BROKERS"] = std::nullopt;  // the file names the brokers
  env.timeout = std::chrono::seconds(60);

  RunResult list =
      RunMcorps({"topics", "list", "-F", file, "-vv", "-X", "debug=security,broker"}, env);
  ExpectNoPassword(list, password);
  if (!ListenerWorksHere(listener)) {
    EXPECT_EQ(list.exit_code, 1) << Describe(list);
    EXPECT_THAT(list.err, HasSubstr("authentication"));
    EXPECT_THAT(list.err, HasSubstr("2.6.1"));
    return;
  }
  ASSERT_EQ(list.exit_code, 0) << Describe(list);

  const std::string topic = UniqueName("mcorps-secure");
  CreateTopicOrFail(SecuredPlaintextBrokers(), topic, 1);
  RunOptions produce_options = env;
  produce_options.stdin_data = "{\"frame\": 7}\n{\"frame\": 8}\n";
  RunResult produced =
      RunMcorps({"produce", "-F", file, "-t", topic, "--type", "protobuf.data.Image", "-vv"},
                produce_options);
  ExpectNoPassword(produced, password);
  ASSERT_EQ(produced.exit_code, 0) << Describe(produced);

  RunResult consumed = RunMcorps(
      {"consume", "-F", file, "-t", topic, "--type", "protobuf.data.Image", "-e", "-vv"}, env);
  ExpectNoPassword(consumed, password);
  ASSERT_EQ(consumed.exit_code, 0) << Describe(consumed);
  auto lines = Lines(consumed.out);
  ASSERT_EQ(lines.size(), 2u) << Describe(consumed);
  EXPECT_THAT(lines[0], HasSubstr("\"frame\":\"7\""));
}

INSTANTIATE_TEST_SUITE_P(Listeners, McorpsSecurity,
                         ::testing::Values("mtls", "scram512", "scram256", "plain"));

// Acceptance check of issue 12: a wrong password fails non-zero within 15 s (here: 10 s), the
// message names authentication, and the password (right or wrong) appears nowhere.
TEST(McorpsSecurityErrors, WrongPasswordFailsFastAndNamesAuthentication) {
  const std::string password = SecuredPassword();
  RunOptions env;
  env.env["MESSAGECORPS_BROKERS"] = std::nullopt;
  env.timeout = std::chrono::seconds(30);
  const auto t0 = std::chrono::steady_clock::now();
  RunResult r = RunMcorps({"topics", "list", "-F", SecuredClientFile("plain"), "-X",
                           "sasl.password=wrong-" + password, "-vv", "-X", "debug=all"},
                          env);
  const auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("authentication"));
  EXPECT_LT(took, std::chrono::seconds(10)) << Describe(r);
  ExpectNoPassword(r, password);
}

}  // namespace
}  // namespace mcorps::testing
