// mcorps-gateway on the secured broker (fixture kafka_security: scripts/kafka start --security),
// configured as every program is: -F with the client files the script wrote (their
// bootstrap.servers names the brokers), or $MESSAGECORPS_CLIENT_CONFIG. A JSON record POSTed over
// HTTP is produced over the secured listener and read back over SSE (a consumer on the same
// listener). A wrong password: /readyz stays 503 naming authentication, a publish fails, and the
// password (right or wrong) appears in no log line, even with librdkafka's debug logging.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "integration/gateway_support.h"
#include "messagecorps/client_config.h"
#include "support/kafka_test_env.h"
#include "support/secured_cluster.h"

namespace messagecorps::testing {
namespace {

using Json = nlohmann::json;
using ::testing::HasSubstr;

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class GatewaySecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The client files name the brokers; nothing else may.
    unsetenv("MESSAGECORPS_BROKERS");
    unsetenv("MESSAGECORPS_CLIENT_CONFIG");
    topic_ = UniqueName("gw-secure");
    CreateTopicOrFail(SecuredPlaintextBrokers(), topic_, 2);
    std::ofstream(dir_.path() / "registry.conf") << topic_ << " protobuf.data.Image encoding=raw\n";
    // Debug logging everywhere: the gateway's own and librdkafka's security and broker contexts.
    setenv("MCORPS_LOG_LEVEL", "debug", 1);
  }
  void TearDown() override {
    unsetenv("MCORPS_LOG_LEVEL");
    unsetenv("MESSAGECORPS_CLIENT_CONFIG");
  }

  std::vector<std::string> Args(std::vector<std::string> more) const {
    std::vector<std::string> args = {"--registry", (dir_.path() / "registry.conf").string(), "-X",
                                     "debug=security,broker"};
    args.insert(args.end(), more.begin(), more.end());
    return args;
  }

  // POSTs a JSON Image and reads it back over SSE from the offset the result named.
  void PublishAndReadBack(GatewayProcess& gw, int frame) {
    auto http = gw.Http();
    const std::string path = "/v1/topics/" + topic_ + "/records";
    auto res = http.Post(path.c_str(), Json{{"frame", frame}}.dump(), "application/json");
    ASSERT_TRUE(res);
    ASSERT_EQ(res->status, 200) << res->body << "\n" << gw.process().Log();
    const Json result = Json::parse(res->body);
    const std::string from =
        absl::StrCat(result["partition"].get<int>(), ":", result["offset"].get<int64_t>());
    const auto events =
        ReadSse(gw.http_port(), path + "?offsets=" + from, 1, std::chrono::seconds(30));
    ASSERT_EQ(events.size(), 1u) << gw.process().Log();
    const Json data = Json::parse(events[0].data);
    EXPECT_EQ(data["message"]["frame"], std::to_string(frame));
    EXPECT_EQ(data["envelope"]["uuid"], result["uuid"]);
  }

  void ExpectNoPassword(GatewayProcess& gw, const std::string& password) {
    ASSERT_GE(password.size(), 16u);
    const std::string log = gw.process().Log();
    EXPECT_EQ(log.find(password), std::string::npos) << "password in the gateway's log";
    EXPECT_EQ(ReadAll(dir_.path() / (gw_name_ + ".out")).find(password), std::string::npos)
        << "password on the gateway's stdout";
  }

  TempDir dir_{"gateway_security_test_"};
  std::string topic_;
  std::string gw_name_;
};

TEST_F(GatewaySecurityTest, PropertiesFileGivesBrokersAndSaslOverTls) {
  gw_name_ = "gateway_plain";
  GatewayProcess gw(gw_name_, "", Args({"-F", SecuredClientFile("plain")}), dir_.path());
  ASSERT_TRUE(gw.WaitReady());
  PublishAndReadBack(gw, 41);
  auto ready = gw.Http().Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 200) << ready->body;
  gw.process().Terminate();
  EXPECT_TRUE(gw.process().Wait(std::chrono::seconds(30)));
  ExpectNoPassword(gw, SecuredPassword());
}

TEST_F(GatewaySecurityTest, EnvironmentClientConfigWithMutualTls) {
  gw_name_ = "gateway_mtls";
  setenv("MESSAGECORPS_CLIENT_CONFIG", SecuredClientFile("mtls").c_str(), 1);
  GatewayProcess gw(gw_name_, "", Args({}), dir_.path());
  unsetenv("MESSAGECORPS_CLIENT_CONFIG");
  ASSERT_TRUE(gw.WaitReady());
  PublishAndReadBack(gw, 42);
}

TEST_F(GatewaySecurityTest, WrongPasswordIsNotReadyNamesAuthenticationAndShowsNoSecret) {
  gw_name_ = "gateway_wrong";
  const std::string password = SecuredPassword();
  const std::string wrong = "wrong-" + password;
  GatewayProcess gw(gw_name_, "",
                    Args({"-F", SecuredClientFile("plain"), "-X", "sasl.password=" + wrong}),
                    dir_.path());
  ASSERT_TRUE(gw.WaitReady());
  auto http = gw.Http();
  // Readiness follows the catalog's first metadata request, made before the ports are printed.
  auto ready = http.Get("/readyz");
  ASSERT_TRUE(ready);
  EXPECT_EQ(ready->status, 503) << ready->body;
  EXPECT_THAT(ready->body, HasSubstr("uthentication")) << ready->body;
  auto res = http.Post(("/v1/topics/" + topic_ + "/records").c_str(), Json{{"frame", 1}}.dump(),
                       "application/json");
  ASSERT_TRUE(res);
  EXPECT_NE(res->status, 200) << res->body;
  EXPECT_EQ(res->body.find(password), std::string::npos);
  gw.process().Terminate();
  EXPECT_TRUE(gw.process().Wait(std::chrono::seconds(30)));
  EXPECT_THAT(gw.process().Log(), HasSubstr("uthentication"));
  ExpectNoPassword(gw, password);
  ExpectNoPassword(gw, wrong);
}

}  // namespace
}  // namespace messagecorps::testing
