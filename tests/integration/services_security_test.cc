// The example system on the secured broker (fixture kafka_security: scripts/kafka start
// --security), configured the one way every program is: -F with a client file the script wrote
// (its bootstrap.servers names the SASL_SSL listener). capture -> predict -> store run over
// SASL_SSL (SCRAM-SHA-512 where librdkafka can log in with it, 2.6.1 on; PLAIN over TLS before:
// librdkafka #4895); the store must end with every frame and its prediction, joined by trace id,
// and no service may log the password. A wrong password: the service exits non-zero within its
// start-up bound, saying authentication failed, without the password.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include "messagecorps/version.h"
#include "services_support.h"
#include "support/kafka_test_env.h"
#include "support/secured_cluster.h"
#include "support/test_topics.h"

namespace messagecorps::testing {
namespace {

constexpr int kFrames = 10;
constexpr const char* kVideo = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

std::string SaslSslListener() { return LibrdkafkaAtLeast(2, 6, 1) ? "scram512" : "plain"; }

int64_t QueryInt(const std::string& db_path, const std::string& sql) {
  sqlite3* db = nullptr;
  int64_t v = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return v;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

TEST(ServicesSecurity, CapturePredictStoreOverSaslSsl) {
  const std::string listener = SaslSslListener();
  const auto props = SecuredClientProperties(listener);
  ASSERT_EQ(props.at("security.protocol"), "SASL_SSL") << listener;
  const std::string client_file = SecuredClientFile(listener);
  const std::string password = SecuredPassword();
  ASSERT_GE(password.size(), 16u);
  // Topics are made on the PLAINTEXT listener of the same broker; the services see only -F.
  const std::string plaintext = SecuredPlaintextBrokers();
  const std::string video = UniqueName("VideoStream"), predictions = UniqueName("Predictions");
  for (const auto& t : {video, predictions, video + ".DLQ", predictions + ".DLQ"}) {
    CreateTopicOrFail(plaintext, t, 2);
  }
  unsetenv("MESSAGECORPS_BROKERS");
  unsetenv("MESSAGECORPS_CLIENT_CONFIG");
  TempDir dir("mcorps-services-security-");
  const std::string db = (dir.path() / "store.db").string();

  ServiceProcess store(
      "store", MCORPS_STORE_BIN,
      {"-F", client_file, "--video-topic", video, "--predictions-topic", predictions, "--group",
       UniqueName("store"), "--db", db, "--count", std::to_string(2 * kFrames)},
      dir.path());
  ServiceProcess predict(
      "predict", MCORPS_PREDICT_BIN,
      {"-F", client_file, "--input", video, "--output", predictions, "--group",
       UniqueName("predict"), "--earliest", "--no-skip", "--count", std::to_string(kFrames)},
      dir.path());
  ServiceProcess capture("capture", MCORPS_CAPTURE_BIN,
                         {"-F", client_file, "--topic", video, "--video", kVideo, "--count",
                          std::to_string(kFrames), "--fps", "30"},
                         dir.path());
  ASSERT_TRUE(capture.Wait(std::chrono::seconds(120))) << capture.Log();
  ASSERT_EQ(capture.exit_code(), 0) << capture.Log();
  // Inference takes 0.2-4 s a frame depending on the machine's load: 10 frames in well under 5 min.
  ASSERT_TRUE(predict.Wait(std::chrono::seconds(300))) << predict.Log();
  EXPECT_EQ(predict.exit_code(), 0) << predict.Log();
  ASSERT_TRUE(store.Wait(std::chrono::seconds(120))) << store.Log();
  EXPECT_EQ(store.exit_code(), 0) << store.Log();

  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM frames"), kFrames);
  EXPECT_EQ(QueryInt(db, "SELECT COUNT(*) FROM predictions"), kFrames);
  EXPECT_EQ(
      QueryInt(db, "SELECT COUNT(*) FROM frames f JOIN predictions p ON p.trace_id = f.trace_id"),
      kFrames);
  for (const ServiceProcess* p : {&store, &predict, &capture}) {
    EXPECT_EQ(p->Log().find(password), std::string::npos) << p->name() << " logged the password";
    EXPECT_EQ(p->Out().find(password), std::string::npos) << p->name() << " printed the password";
  }
}

TEST(ServicesSecurity, WrongPasswordStopsTheServiceNamingAuthentication) {
  auto props = SecuredClientProperties(SaslSslListener());
  const std::string wrong = "not-the-password-" + UniqueName("x");
  props["sasl.password"] = wrong;
  TempDir dir("mcorps-services-security-wrong-");
  const auto file = dir.path() / "client-wrong.properties";
  {
    std::ofstream out(file);
    for (const auto& [k, v] : props) out << k << "=" << v << "\n";
  }
  unsetenv("MESSAGECORPS_BROKERS");
  unsetenv("MESSAGECORPS_CLIENT_CONFIG");
  ServiceProcess capture("capture", MCORPS_CAPTURE_BIN,
                         {"-F", file.string(), "--topic", UniqueName("VideoStream"), "--video",
                          kVideo, "--count", "1"},
                         dir.path());
  // Start-up checks the cluster (metadata, the topics) within the client's timeouts: a refused
  // login ends the program instead of leaving it retrying unseen.
  ASSERT_TRUE(capture.Wait(std::chrono::seconds(90))) << capture.Log();
  EXPECT_NE(capture.exit_code(), 0) << capture.Log();
  EXPECT_NE(Lower(capture.Log()).find("authentication"), std::string::npos) << capture.Log();
  EXPECT_EQ(capture.Log().find(wrong), std::string::npos) << "capture logged the password";
}

}  // namespace
}  // namespace messagecorps::testing
