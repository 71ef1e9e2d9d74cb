// The store on SQLite (always) and PostgreSQL (when MCORPS_TEST_POSTGRES_URL is set, as
// tests/unit/store_postgres_fixture does): rows per record, envelope fields, the trace query, and
// no duplicate rows when records are redelivered.
#include "store/store.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "messagecorps/trace_context.h"

namespace messagecorps::services {
namespace {

using protobuf::data::Image;
using protobuf::predictions::Prediction;

Image MakeFrame(int64_t n, const std::string& trace) {
  Image image;
  image.set_image_data(std::string("\xff\xd8 not really a jpeg ") + std::to_string(n));
  image.set_width(640);
  image.set_height(480);
  image.set_frame(n);
  image.set_encoding(Image::JPEG);
  image.set_channels(3);
  image.set_capture_time(1700000000.0 + static_cast<double>(n) / 10);
  image.set_source("test.avi");
  auto* e = image.mutable__message_data();
  e->set_uuid(NewUuidV1());
  e->set_trace_id(trace);
  e->set_span_id("00f067aa0ba902b7");
  e->set_timestamp(1700000000.5);
  e->set_iso_date("2023-11-14T22:13:20.500000+00:00");
  e->set_environment(protobuf::common::DEVELOPMENT);
  e->set_sending_service("capture");
  return image;
}

Prediction MakePrediction(int64_t n, const std::string& trace) {
  Prediction p;
  p.set_frame(n);
  p.add_object("person");
  p.add_object("face");
  auto* d = p.add_detections();
  d->set_label("person");
  d->set_score(0.9f);
  d->set_model("hog-person");
  d->mutable_box()->set_x(10);
  d->mutable_box()->set_width(50);
  d->mutable_box()->set_height(100);
  p.set_model_name("hog-person+blazeface-back");
  p.set_inference_ms(31.5);
  p.set_source_trace_id(trace);
  p.set_source_topic("VideoStream");
  p.set_source_partition(3);
  p.set_source_offset(n);
  auto* e = p.mutable__message_data();
  e->set_uuid(NewUuidV1());
  e->set_trace_id(trace);
  e->set_parent_span_id("00f067aa0ba902b7");
  e->set_sending_service("predict");
  return p;
}

void ExerciseStore(Store& store) {
  const std::string trace_a = std::string(TraceContext::NewTrace().trace_id());
  const std::string trace_b = std::string(TraceContext::NewTrace().trace_id());
  auto before = store.Counts();
  ASSERT_TRUE(before.ok()) << before.status();

  // First delivery: 2 frames, 2 predictions.
  for (int pass = 0; pass < 3; ++pass) {
    // Passes 2 and 3 are redeliveries of the same records (same topic/partition/offset).
    auto f1 = store.PutFrame({"VideoStream", 3, 100}, MakeFrame(7, trace_a), /*keep_image=*/true);
    auto f2 = store.PutFrame({"VideoStream", 4, 100}, MakeFrame(8, trace_b), false);
    auto p1 = store.PutPrediction({"Predictions", 0, 55}, MakePrediction(7, trace_a));
    auto p2 = store.PutPrediction({"Predictions", 1, 55}, MakePrediction(8, trace_b));
    for (const auto* r : {&f1, &f2, &p1, &p2}) {
      ASSERT_TRUE(r->ok()) << r->status();
      EXPECT_EQ(**r, pass == 0) << "pass " << pass << ": a redelivered record must write nothing";
    }
  }
  auto after = store.Counts();
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->frames - before->frames, 2);
  EXPECT_EQ(after->predictions - before->predictions, 2);
  EXPECT_EQ(after->envelopes - before->envelopes, 4);

  auto story = store.QueryTrace(trace_a);
  ASSERT_TRUE(story.ok()) << story.status();
  const auto& j = *story;
  ASSERT_EQ(j["frames"].size(), 1u) << j.dump(2);
  ASSERT_EQ(j["predictions"].size(), 1u) << j.dump(2);
  const auto& frame = j["frames"][0];
  EXPECT_EQ(frame["frame"], 7);
  EXPECT_EQ(frame["width"], 640);
  EXPECT_EQ(frame["encoding"], "jpeg");
  EXPECT_EQ(frame["source"], "test.avi");
  EXPECT_EQ(frame["image_stored"], true);
  EXPECT_EQ(frame["envelope"]["trace_id"], trace_a);
  EXPECT_EQ(frame["envelope"]["partition"], 3);
  EXPECT_EQ(frame["envelope"]["offset"], 100);
  EXPECT_EQ(frame["envelope"]["sending_service"], "capture");
  EXPECT_EQ(frame["envelope"]["environment"], "DEVELOPMENT");
  EXPECT_EQ(frame["envelope"]["iso_date"], "2023-11-14T22:13:20.500000+00:00");
  EXPECT_EQ(frame["envelope"]["message_type"], "protobuf.data.Image");
  const auto& prediction = j["predictions"][0];
  EXPECT_EQ(prediction["objects"], nlohmann::json({"person", "face"}));
  EXPECT_EQ(prediction["detections"][0]["label"], "person");
  EXPECT_EQ(prediction["source_offset"], 7);
  EXPECT_EQ(prediction["envelope"]["parent_span_id"], "00f067aa0ba902b7");
  EXPECT_NEAR(prediction["inference_ms"].get<double>(), 31.5, 1e-9);

  auto b = store.QueryTrace(trace_b);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ((*b)["frames"][0]["image_stored"], false);
  EXPECT_EQ(store.QueryTrace("0123456789abcdef0123456789abcdef").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(SqliteStore, StoresRecordsOnceAndTellsATracesStory) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("mcorps-store-test-" + std::to_string(getpid()) + ".db");
  std::filesystem::remove(path);
  {
    auto store = OpenSqliteStore(path.string());
    ASSERT_TRUE(store.ok()) << store.status();
    ExerciseStore(**store);
  }
  {
    // Reopening an existing database keeps its rows and schema.
    auto store = OpenSqliteStore(path.string());
    ASSERT_TRUE(store.ok()) << store.status();
    auto counts = (*store)->Counts();
    ASSERT_TRUE(counts.ok());
    EXPECT_EQ(counts->frames, 2);
  }
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + suffix);
}

TEST(SqliteStore, ReportsAnUnopenableFile) {
  EXPECT_FALSE(OpenSqliteStore("/nonexistent-dir/x/y.db").ok());
}

TEST(PostgresStore, StoresRecordsOnceAndTellsATracesStory) {
  const char* url = std::getenv("MCORPS_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    GTEST_SKIP() << "MCORPS_TEST_POSTGRES_URL not set (store_postgres_test sets it)";
  }
  auto store = OpenPostgresStore(url);
  ASSERT_TRUE(store.ok()) << store.status();
  ExerciseStore(**store);
}

TEST(PostgresStore, ReportsAnUnreachableServerAsUnavailable) {
  auto store = OpenPostgresStore("postgresql://127.0.0.1:1/nothing?connect_timeout=2");
  EXPECT_EQ(store.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace messagecorps::services
