// The one stop path (messagecorps/program/stop.h) in every service, mid-stream on a real Kafka:
// SIGINT and SIGTERM each make the service finish what it holds and exit 0 within kStopBound,
// with nothing acknowledged but unwritten:
//   capture: every frame it counted as sent was delivered (acknowledged by Kafka);
//   store:   every record of the group's committed offsets is in the database;
//   predict: every committed frame was answered (a Prediction delivered) or dead-lettered;
//   display: exits 0 (it writes nothing).
// Frames flow from a capture at 20 fps during each run, so the stop lands mid-stream.
#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "messagecorps/admin.h"
#include "services_support.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

namespace messagecorps::testing {
namespace {

using namespace std::chrono_literals;

// A stopping service commits (at most 10 s when the coordinator does not answer, router.h) and
// leaves its group (close_timeout 5 s, services/common/service_router.h); 30 s leaves 15 s for a
// machine shared with other builds.
constexpr auto kStopBound = 30s;

int64_t Query(const std::string& path, const char* sql) {
  sqlite3* db = nullptr;
  int64_t v = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql, -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      v = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return v;
}

// The group's committed offsets on `topic`, summed (records acknowledged as processed).
int64_t Committed(const std::string& brokers, const std::string& group, const std::string& topic) {
  ClientConfig config;
  config.brokers = brokers;
  auto admin = AdminClient::Create(config);
  if (!admin.ok()) return -1;
  auto lag = (*admin)->GroupLag(group, 10s);
  if (!lag.ok()) return 0;
  int64_t sum = 0;
  for (const auto& p : *lag) {
    if (p.topic == topic && p.committed > 0) sum += p.committed;
  }
  return sum;
}

// Stops `p` with `sig`; expects exit 0 within kStopBound.
void StopAndExpectClean(ServiceProcess& p, int sig) {
  const auto start = std::chrono::steady_clock::now();
  p.Signal(sig);
  ASSERT_TRUE(p.Wait(kStopBound)) << p.name() << " still running " << kStopBound.count()
                                  << " s after signal " << sig << "\n"
                                  << p.Log();
  EXPECT_EQ(p.exit_code(), 0) << p.name() << " signal " << sig << "\n" << p.Log();
  std::cerr << p.name() << " stopped on signal " << sig << " in "
            << std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::steady_clock::now() - start)
                   .count()
            << " ms\n";
}

class ServicesStop : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    brokers_ = TestBrokers();
    ASSERT_FALSE(brokers_.empty());
    video_ = UniqueName("VideoStream");
    predictions_ = UniqueName("Predictions");
    for (const auto& [name, partitions] : {std::pair{video_, 4},
                                           {predictions_, 4},
                                           {video_ + ".DLQ", 1},
                                           {predictions_ + ".DLQ", 1}}) {
      CreateTopicOrFail(brokers_, name, partitions);
    }
  }
  // A capture publishing small synthetic frames at 20 fps until stopped.
  std::unique_ptr<ServiceProcess> StartCapture(const std::string& name) {
    return std::make_unique<ServiceProcess>(
        name, MCORPS_CAPTURE_BIN,
        std::vector<std::string>{"--brokers", brokers_, "--topic", video_, "--synthetic",
                                 "--resolution", "160x120", "--fps", "20"},
        dir_.path());
  }

  std::string brokers_, video_, predictions_;
  TempDir dir_{"mcorps-stop-"};
};

TEST_P(ServicesStop, CaptureDeliversEverythingItSent) {
  auto capture = StartCapture("capture");
  ASSERT_TRUE(
      WaitUntil([&] { return capture->Log().find("publishing") != std::string::npos; }, 60s))
      << capture->Log();
  std::this_thread::sleep_for(2s);  // mid-stream: frames are in flight
  StopAndExpectClean(*capture, GetParam());
  auto summary = nlohmann::json::parse(capture->LastLine());
  EXPECT_GT(summary["sent"].get<int>(), 0);
  EXPECT_EQ(summary["delivered"], summary["sent"]) << summary.dump();
  EXPECT_EQ(summary["failed"], 0);
}

TEST_P(ServicesStop, StoreCommitsOnlyWhatItWrote) {
  auto capture = StartCapture("capture");
  const std::string db = (dir_.path() / "store.db").string();
  const std::string group = UniqueName("store");
  ServiceProcess store("store", MCORPS_STORE_BIN,
                       {"--brokers", brokers_, "--video-topic", video_, "--predictions-topic",
                        predictions_, "--group", group, "--db", db},
                       dir_.path());
  ASSERT_TRUE(WaitUntil([&] { return Query(db, "SELECT COUNT(*) FROM frames") >= 20; }, 120s))
      << store.Log() << capture->Log();
  StopAndExpectClean(store, GetParam());
  const int64_t written = Query(db, "SELECT COUNT(*) FROM frames");
  const int64_t committed = Committed(brokers_, group, video_);
  EXPECT_GT(committed, 0) << "the store committed nothing on the way out";
  EXPECT_LE(committed, written) << "records acknowledged to Kafka but not in the database";
}

TEST_P(ServicesStop, PredictCommitsOnlyWhatItAnswered) {
  auto capture = StartCapture("capture");
  const std::string group = UniqueName("predict");
  ServiceProcess predict("predict", MCORPS_PREDICT_BIN,
                         {"--brokers", brokers_, "--input", video_, "--output", predictions_,
                          "--group", group, "--earliest", "--no-skip", "--detector", "lbp-face"},
                         dir_.path());
  ASSERT_TRUE(WaitUntil([&] { return predict.Log().find("predicting") != std::string::npos; }, 60s))
      << predict.Log();
  ASSERT_TRUE(WaitUntil([&] { return Committed(brokers_, group, video_) > 0; }, 120s))
      << predict.Log();
  StopAndExpectClean(predict, GetParam());
  auto summary = nlohmann::json::parse(predict.LastLine());
  const int64_t answered =
      summary["published"].get<int64_t>() + summary["dead_lettered"].get<int64_t>();
  EXPECT_LE(Committed(brokers_, group, video_), answered)
      << "frames acknowledged to Kafka without a delivered Prediction: " << summary.dump();
}

TEST_P(ServicesStop, DisplayExitsCleanly) {
  auto capture = StartCapture("capture");
  ServiceProcess display("display", MCORPS_DISPLAY_BIN,
                         {"--brokers", brokers_, "--video-topic", video_, "--predictions-topic",
                          predictions_, "--port", "0"},
                         dir_.path());
  ASSERT_TRUE(WaitUntil([&] { return display.Out().find("http://") != std::string::npos; }, 60s))
      << display.Log();
  std::this_thread::sleep_for(2s);
  StopAndExpectClean(display, GetParam());
}

INSTANTIATE_TEST_SUITE_P(Signals, ServicesStop, ::testing::Values(SIGINT, SIGTERM),
                         [](const auto& info) {
                           return std::string(info.param == SIGINT ? "SIGINT" : "SIGTERM");
                         });

}  // namespace
}  // namespace messagecorps::testing
