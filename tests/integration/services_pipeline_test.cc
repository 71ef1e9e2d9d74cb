// The example system end to end on the real broker: mcorps-capture sends 300 frames of the
// pedestrian video, two mcorps-predict instances share the partitions (one consumer group), and
// mcorps-store keeps frames and predictions. Checks: 300 Predictions, one per frame, each with its
// frame's trace id; the store holds 300 frames and 300 predictions joined by trace id; persons are
// detected on the hand-checked frames of tests/data/services/vtest_persons.txt; `mcorps-store
// --query` tells one frame's story.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "services_support.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

namespace messagecorps::testing {
namespace {

constexpr int kFrames = 300;
constexpr const char* kVideo = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

bool LogHas(const ServiceProcess& p, const std::string& text) {
  return p.Log().find(text) != std::string::npos;
}

bool WaitUntil(const std::function<bool()>& done, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return true;
}

int64_t QueryInt(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  int64_t v = -1;
  if (stmt && sqlite3_step(stmt) == SQLITE_ROW) v = sqlite3_column_int64(stmt, 0);
  sqlite3_finalize(stmt);
  return v;
}

std::string QueryText(sqlite3* db, const std::string& sql) {
  sqlite3_stmt* stmt = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr), SQLITE_OK) << sql;
  std::string v;
  if (stmt && sqlite3_step(stmt) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(stmt, 0);
    v = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(stmt);
  return v;
}

std::vector<int> HandCheckedPersonFrames() {
  std::ifstream in(std::string(MCORPS_TEST_DATA_DIR) + "/vtest_persons.txt");
  std::vector<int> frames;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    frames.push_back(std::stoi(line));
  }
  return frames;
}

TEST(ServicesPipeline, ThreeHundredFramesBecomePredictionsJoinedByTraceInTheStore) {
  const std::string brokers = TestBrokers();
  ASSERT_FALSE(brokers.empty());
  const std::string video = UniqueName("VideoStream"), predictions = UniqueName("Predictions");
  CreateTopicOrFail(brokers, video, 8);
  CreateTopicOrFail(brokers, predictions, 8);
  CreateTopicOrFail(brokers, video + ".DLQ", 1);
  CreateTopicOrFail(brokers, predictions + ".DLQ", 1);
  TempDir dir("mcorps-pipeline-");
  const std::string db = (dir.path() / "store.db").string();
  const std::string predict_group = UniqueName("predict");

  ServiceProcess store(
      "store", MCORPS_STORE_BIN,
      {"--brokers", brokers, "--video-topic", video, "--predictions-topic", predictions, "--group",
       UniqueName("store"), "--db", db, "--count", std::to_string(2 * kFrames)},
      dir.path());
  std::vector<std::string> predict_args = {"--brokers",  brokers,     "--input", video,
                                           "--output",   predictions, "--group", predict_group,
                                           "--earliest", "--no-skip"};
  ServiceProcess predict1("predict-1", MCORPS_PREDICT_BIN, predict_args, dir.path());
  ASSERT_TRUE(WaitUntil([&] { return LogHas(predict1, "assigned"); }, std::chrono::seconds(60)))
      << predict1.Log();
  ServiceProcess predict2("predict-2", MCORPS_PREDICT_BIN, predict_args, dir.path());
  // The second instance takes over half of the partitions (a rebalance) before frames
  // flow.
  ASSERT_TRUE(WaitUntil([&] { return LogHas(predict2, "assigned"); }, std::chrono::seconds(60)))
      << predict2.Log();
  ASSERT_TRUE(WaitUntil([&] { return LogHas(store, "assigned"); }, std::chrono::seconds(60)))
      << store.Log();

  ServiceProcess capture("capture", MCORPS_CAPTURE_BIN,
                         {"--brokers", brokers, "--topic", video, "--video", kVideo, "--count",
                          std::to_string(kFrames), "--fps", "30"},
                         dir.path());
  ASSERT_TRUE(capture.Wait(std::chrono::seconds(90))) << capture.Log();
  ASSERT_EQ(capture.exit_code(), 0) << capture.Log();
  auto sent = nlohmann::json::parse(capture.LastLine());
  EXPECT_EQ(sent["delivered"], kFrames);

  ASSERT_TRUE(store.Wait(std::chrono::seconds(400)))
      << "store did not get 600 records\n"
      << store.Log() << predict1.Log() << predict2.Log();
  EXPECT_EQ(store.exit_code(), 0) << store.Log();
  predict1.Terminate();
  predict2.Terminate();
  ASSERT_TRUE(predict1.Wait(std::chrono::seconds(30)));
  ASSERT_TRUE(predict2.Wait(std::chrono::seconds(30)));
  auto p1 = nlohmann::json::parse(predict1.LastLine());
  auto p2 = nlohmann::json::parse(predict2.LastLine());
  EXPECT_EQ(p1["predicted"].get<int>() + p2["predicted"].get<int>(), kFrames);
  EXPECT_GT(p1["predicted"].get<int>(), 0) << "instance 1 got no partitions";
  EXPECT_GT(p2["predicted"].get<int>(), 0) << "instance 2 got no partitions";
  EXPECT_EQ(p1["dead_lettered"].get<int>() + p2["dead_lettered"].get<int>(), 0);

  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(*) FROM frames"), kFrames);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(*) FROM predictions"), kFrames);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(DISTINCT frame) FROM frames"), kFrames);
  EXPECT_EQ(QueryInt(handle, "SELECT MIN(frame) FROM frames"), 0);
  EXPECT_EQ(QueryInt(handle, "SELECT MAX(frame) FROM frames"), kFrames - 1);
  // Every prediction carries its frame's trace id (inherited through the router) and frame number.
  EXPECT_EQ(QueryInt(handle,
                     "SELECT COUNT(*) FROM frames f JOIN predictions p ON p.trace_id = f.trace_id "
                     "AND p.frame = f.frame AND p.source_trace_id = f.trace_id"),
            kFrames);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(DISTINCT trace_id) FROM frames"), kFrames);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(*) FROM envelopes"), 2 * kFrames);

  const std::vector<int> person_frames = HandCheckedPersonFrames();
  ASSERT_GE(person_frames.size(), 3u);
  for (int frame : person_frames) {
    const std::string objects =
        QueryText(handle, "SELECT objects FROM predictions WHERE frame = " + std::to_string(frame));
    EXPECT_NE(objects.find("person"), std::string::npos)
        << "frame " << frame << " shows pedestrians, prediction: " << objects;
  }
  const std::string trace = QueryText(
      handle, "SELECT trace_id FROM frames WHERE frame = " + std::to_string(person_frames[0]));
  sqlite3_close(handle);

  ServiceProcess query("query", MCORPS_STORE_BIN, {"--db", db, "--query", trace}, dir.path());
  ASSERT_TRUE(query.Wait(std::chrono::seconds(30)));
  ASSERT_EQ(query.exit_code(), 0) << query.Log();
  auto story = nlohmann::json::parse(query.Out());
  ASSERT_EQ(story["frames"].size(), 1u) << story.dump(2);
  ASSERT_EQ(story["predictions"].size(), 1u) << story.dump(2);
  EXPECT_EQ(story["frames"][0]["envelope"]["sending_service"], "capture");
  EXPECT_EQ(story["predictions"][0]["envelope"]["sending_service"], "predict");
  EXPECT_EQ(story["predictions"][0]["envelope"]["parent_span_id"],
            story["frames"][0]["envelope"]["span_id"]);
  EXPECT_EQ(story["predictions"][0]["source_topic"], video);
}

}  // namespace
}  // namespace messagecorps::testing
