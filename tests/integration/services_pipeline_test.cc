// The example system end to end on the real broker: mcorps-capture sends 300 frames of the
// pedestrian video and the test one blank frame, two mcorps-predict instances share the partitions
// (one consumer group), and mcorps-store keeps frames and predictions. Checks: one Prediction per
// frame sent (301), each with its frame's trace id; the store holds 301 frames and 301 predictions
// joined by trace id, one per frame number; on the hand-checked frames of
// tests/data/services/vtest_persons.txt the number of persons lies between what the file says the
// detectors must find and the people visible, each person box on a person the file marks; every
// box lies inside its frame; the blank frame has no person; `mcorps-store --query` tells one
// frame's story.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <opencv2/core.hpp>
#include <set>
#include <sstream>

#include "common/frame_codec.h"
#include "messagecorps/seed_topics.h"
#include "services_support.h"
#include "support/kafka_test_env.h"
#include "support/test_brokers.h"
#include "support/test_topics.h"

namespace messagecorps::testing {
namespace {

constexpr int kFrames = 300;          // from the video, numbered 0..299
constexpr int kBlankFrame = kFrames;  // one more, sent by the test: a uniform grey image
constexpr int kFramesSent = kFrames + 1;
constexpr const char* kVideo = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";

bool LogHas(const ServiceProcess& p, const std::string& text) {
  return p.Log().find(text) != std::string::npos;
}

// Rows the store has written so far (frames + predictions), or -1 while its database cannot be read
// yet. The store writes in WAL mode: a reader does not disturb it.
int64_t StoredRows(const std::string& path) {
  sqlite3* db = nullptr;
  int64_t rows = -1;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(
            db, "SELECT (SELECT COUNT(*) FROM frames) + (SELECT COUNT(*) FROM predictions)", -1,
            &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      rows = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return rows;
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

// A line of vtest_persons.txt: a frame, the people visible, how many the detectors must find,
// and a point on each visible person.
struct HandChecked {
  int frame = 0;
  int visible = 0;
  int found = 0;
  std::vector<std::pair<double, double>> centres;
};

std::vector<HandChecked> HandCheckedFrames() {
  std::ifstream in(std::string(MCORPS_TEST_DATA_DIR) + "/vtest_persons.txt");
  std::vector<HandChecked> frames;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    HandChecked h;
    fields >> h.frame >> h.visible >> h.found;
    std::string point;
    while (fields >> point) {
      double x = 0, y = 0;
      char comma = 0;
      std::istringstream(point) >> x >> comma >> y;
      EXPECT_EQ(comma, ',') << line;
      h.centres.push_back({x, y});
    }
    EXPECT_EQ(static_cast<int>(h.centres.size()), h.visible) << "one centre per person: " << line;
    frames.push_back(std::move(h));
  }
  return frames;
}

struct Box {
  std::string label;
  double x, y, width, height;
  bool Contains(double px, double py) const {
    return px >= x && px <= x + width && py >= y && py <= y + height;
  }
};

// The detections column of a predictions row: [{"label", "score", "box": [x, y, w, h], "model"}].
std::vector<Box> ParseDetections(const std::string& text) {
  std::vector<Box> boxes;
  for (const auto& d : nlohmann::json::parse(text)) {
    const auto& b = d.at("box");
    boxes.push_back({d.at("label").get<std::string>(), b.at(0).get<double>(), b.at(1).get<double>(),
                     b.at(2).get<double>(), b.at(3).get<double>()});
  }
  return boxes;
}

int CountPersons(const std::vector<Box>& boxes) {
  int n = 0;
  for (const Box& b : boxes) n += b.label == "person" ? 1 : 0;
  return n;
}

TEST(ServicesPipeline, ThreeHundredFramesBecomePredictionsJoinedByTraceInTheStore) {
  const auto test_start = std::chrono::steady_clock::now();
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
       UniqueName("store"), "--db", db, "--count", std::to_string(2 * kFramesSent)},
      dir.path());
  // --no-skip: every frame gets its prediction. The router then takes up to 500 frames per batch
  // and polls again only after the batch: at 0.6-0.9 s per frame on idle cores that is fine, but
  // on a loaded machine (inference p50 2.4-4.3 s) a batch outlasted librdkafka's
  // max.poll.interval.ms (300 s): the instance was evicted from the group, the other one took its
  // partitions and handled their uncommitted frames again, and the evicted one stopped 111 s
  // after SIGTERM (its batch still running). 30 min is longer than any batch of this test: 150
  // frames at ten times the idle cost.
  std::vector<std::string> predict_args = {
      "--brokers",  brokers,     "--input", video,
      "--output",   predictions, "--group", predict_group,
      "--earliest", "--no-skip", "-X",      "max.poll.interval.ms=1800000"};
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

  // A blank frame of the video's size: no detector may see a person on it.
  {
    protobuf::data::Image blank;
    ASSERT_TRUE(
        services::EncodeFrame(cv::Mat(576, 768, CV_8UC3, cv::Scalar(128, 128, 128)), {}, &blank)
            .ok());
    blank.set_frame(kBlankFrame);
    blank.set_source("blank");
    auto producer = MakeProducer(brokers);
    auto report = producer->SendSync(Topic<protobuf::data::Image>(video), blank);
    ASSERT_TRUE(report.ok()) << report.status();
  }

  // The store exits once it has all 602 records. How long that takes depends on the CPU left for
  // the detectors (0.6-0.9 s per frame and instance on two idle cores; several times that on a
  // machine shared with other builds), so the wait has no fixed length: it fails when no record
  // was stored for 120 s (a stall: no single frame takes that long), or 60 s before the test's
  // ctest TIMEOUT (900 s), so that the failure still reports the services' logs.
  {
    const auto hard_deadline = test_start + std::chrono::seconds(840);
    auto last_progress = std::chrono::steady_clock::now();
    int64_t last_rows = -1;
    while (!store.Wait(std::chrono::seconds(2))) {
      const auto now = std::chrono::steady_clock::now();
      const int64_t rows = StoredRows(db);
      if (rows > last_rows) {
        last_rows = rows;
        last_progress = now;
      }
      ASSERT_LT(now - last_progress, std::chrono::seconds(120))
          << "the store got no record for 120 s (" << last_rows << " of " << 2 * kFramesSent
          << " stored)\n"
          << store.Log() << predict1.Log() << predict2.Log();
      ASSERT_LT(now, hard_deadline) << "the store got " << last_rows << " of " << 2 * kFramesSent
                                    << " records before the test's time ran out\n"
                                    << store.Log() << predict1.Log() << predict2.Log();
    }
  }
  EXPECT_EQ(store.exit_code(), 0) << store.Log();
  predict1.Terminate();
  predict2.Terminate();
  // Each instance (idle now: every frame is predicted) commits (at most 10 s when the coordinator
  // does not answer, router.h), leaves the group (close_timeout 5 s), prints its summary and
  // exits; 30 s leaves 15 s for a loaded machine (measured 150-320 ms when the machine is quiet).
  for (ServiceProcess* p : {&predict1, &predict2}) {
    const auto stopping = std::chrono::steady_clock::now();
    if (p->Wait(std::chrono::seconds(30))) continue;
    const bool late = p->Wait(std::chrono::seconds(90));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - stopping);
    FAIL() << p->name() << " did not stop within 30 s of SIGTERM ("
           << (late ? "it stopped after " + std::to_string(took.count()) + " ms"
                    : std::string("still running after 120 s"))
           << ")\n"
           << p->Log();
  }
  auto p1 = nlohmann::json::parse(predict1.LastLine());
  auto p2 = nlohmann::json::parse(predict2.LastLine());
  EXPECT_EQ(p1["predicted"].get<int>() + p2["predicted"].get<int>(), kFramesSent);
  EXPECT_GT(p1["predicted"].get<int>(), 0) << "instance 1 got no partitions";
  EXPECT_GT(p2["predicted"].get<int>(), 0) << "instance 2 got no partitions";
  EXPECT_EQ(p1["dead_lettered"].get<int>() + p2["dead_lettered"].get<int>(), 0);

  sqlite3* handle = nullptr;
  ASSERT_EQ(sqlite3_open_v2(db.c_str(), &handle, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(*) FROM frames"), kFramesSent);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(DISTINCT frame) FROM frames"), kFramesSent);
  EXPECT_EQ(QueryInt(handle, "SELECT MIN(frame) FROM frames"), 0);
  EXPECT_EQ(QueryInt(handle, "SELECT MAX(frame) FROM frames"), kBlankFrame);
  // One prediction per frame sent: as many rows as frames, and as many distinct frame numbers.
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(*) FROM predictions"), kFramesSent);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(DISTINCT frame) FROM predictions"), kFramesSent);
  // Every prediction carries its frame's trace id (inherited through the router) and frame number.
  EXPECT_EQ(QueryInt(handle,
                     "SELECT COUNT(*) FROM frames f JOIN predictions p ON p.trace_id = f.trace_id "
                     "AND p.frame = f.frame AND p.source_trace_id = f.trace_id"),
            kFramesSent);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(DISTINCT trace_id) FROM frames"), kFramesSent);
  EXPECT_EQ(QueryInt(handle, "SELECT COUNT(*) FROM envelopes"), 2 * kFramesSent);

  // Every box lies inside its frame (the video's 768x576).
  {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(
                  handle, "SELECT frame, frame_width, frame_height, detections FROM predictions",
                  -1, &stmt, nullptr),
              SQLITE_OK);
    int rows = 0, boxes = 0, wrong_size = 0;
    std::vector<std::string> outside;  // one line per box not inside its frame
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      ++rows;
      const int64_t frame = sqlite3_column_int64(stmt, 0);
      const double width = sqlite3_column_double(stmt, 1), height = sqlite3_column_double(stmt, 2);
      wrong_size += width == 768 && height == 576 ? 0 : 1;
      const auto* text = sqlite3_column_text(stmt, 3);
      for (const Box& b : ParseDetections(text ? reinterpret_cast<const char*>(text) : "[]")) {
        ++boxes;
        if (b.x >= 0 && b.y >= 0 && b.width > 0 && b.height > 0 && b.x + b.width <= width &&
            b.y + b.height <= height) {
          continue;
        }
        std::ostringstream line;
        line << "frame " << frame << ": " << b.label << " " << b.x << "," << b.y << " " << b.width
             << "x" << b.height << " in " << width << "x" << height;
        outside.push_back(line.str());
      }
    }
    sqlite3_finalize(stmt);
    EXPECT_EQ(wrong_size, 0) << "predictions whose frame size is not the video's 768x576";
    EXPECT_TRUE(outside.empty()) << outside.size() << " box(es) not inside their frame, e.g. "
                                 << outside.front();
    EXPECT_EQ(rows, kFramesSent);
    EXPECT_GT(boxes, 0);
  }

  // The hand-checked frames: as many persons as the data file states, each box on a person.
  const std::vector<HandChecked> checked = HandCheckedFrames();
  ASSERT_GE(checked.size(), 3u);
  for (const HandChecked& h : checked) {
    const std::vector<Box> boxes = ParseDetections(QueryText(
        handle, "SELECT detections FROM predictions WHERE frame = " + std::to_string(h.frame)));
    const int persons = CountPersons(boxes);
    EXPECT_GE(persons, h.found) << "frame " << h.frame << ": too few persons found";
    EXPECT_LE(persons, h.visible) << "frame " << h.frame << ": more persons than people visible";
    std::set<size_t> covered;
    for (const Box& b : boxes) {
      if (b.label != "person") continue;
      bool on_someone = false;
      for (size_t i = 0; i < h.centres.size(); ++i) {
        if (b.Contains(h.centres[i].first, h.centres[i].second)) {
          on_someone = true;
          covered.insert(i);
        }
      }
      EXPECT_TRUE(on_someone) << "frame " << h.frame << ": a person box at " << b.x << "," << b.y
                              << " " << b.width << "x" << b.height << " contains nobody";
    }
    EXPECT_GE(static_cast<int>(covered.size()), h.found)
        << "frame " << h.frame << ": the person boxes cover too few of the people";
  }
  const std::vector<Box> on_blank = ParseDetections(QueryText(
      handle, "SELECT detections FROM predictions WHERE frame = " + std::to_string(kBlankFrame)));
  EXPECT_EQ(CountPersons(on_blank), 0) << "a person on the blank frame";
  EXPECT_EQ(QueryText(handle, "SELECT objects FROM predictions WHERE frame = " +
                                  std::to_string(kBlankFrame)),
            "[]");

  const std::string trace = QueryText(
      handle, "SELECT trace_id FROM frames WHERE frame = " + std::to_string(checked[0].frame));
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
