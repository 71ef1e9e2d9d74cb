// Detectors on known images from Debian packages: people on darknet's person.jpg, a face on
// facedetect's grace_hopper portrait and opencv-doc's messi5.jpg, nothing on a blank frame.
// The BlazeFace model comes from scripts/fetch-models (the models cache).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <string>

#include "common/cache_dir.h"
#include "predict/detectors/blazeface.h"
#include "predict/detectors/cascade.h"
#include "predict/detectors/detector_spec.h"
#include "predict/detectors/hog_person.h"
#include "predict/detectors/onnx_detector.h"

namespace messagecorps::services {
namespace {

constexpr const char* kPerson = "/usr/share/darknet/data/person.jpg";
constexpr const char* kGraceHopper = "/usr/share/doc/facedetect/examples/grace_hopper_512x512.jpg";
constexpr const char* kMessi = "/usr/share/doc/opencv-doc/examples/data/messi5.jpg";

cv::Mat Load(const char* path) {
  cv::Mat img = cv::imread(path, cv::IMREAD_COLOR);
  EXPECT_FALSE(img.empty()) << path << " missing: run scripts/install-deps";
  return img;
}

int CountLabel(const std::vector<Detection>& found, const std::string& label) {
  return static_cast<int>(std::count_if(found.begin(), found.end(),
                                        [&](const Detection& d) { return d.label == label; }));
}

DetectorContext Context() { return {.models_dir = DefaultCacheDir() + "/models"}; }

std::unique_ptr<Detector> Make(const std::string& spec) {
  auto d = MakeDetector(spec, Context());
  EXPECT_TRUE(d.ok()) << spec << ": " << d.status();
  return d.ok() ? std::move(*d) : nullptr;
}

TEST(HogPersonDetector, FindsThePersonOnDarknetsPersonJpg) {
  cv::Mat img = Load(kPerson);
  ASSERT_FALSE(img.empty());
  HogPersonDetector hog;
  auto found = hog.Detect(img);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_GE(CountLabel(*found, "person"), 1);
  for (const auto& d : *found) {
    EXPECT_GE(d.score, 0.5f);
    EXPECT_EQ(d.model, "hog-person");
    // The hiker (blue jacket) stands left of centre, about x = 190..270, y = 100..370; the dog and
    // the horse must not be taken for people.
    const float cx = d.box.x + d.box.width / 2;
    EXPECT_GT(cx, 170);
    EXPECT_LT(cx, 300);
    EXPECT_GT(d.box.height, 150);
  }
}

TEST(BlazeFaceDetector, FindsOneFaceOnGraceHopper) {
  cv::Mat img = Load(kGraceHopper);
  ASSERT_FALSE(img.empty());
  for (const char* spec : {"blazeface:variant=front", "blazeface:variant=back"}) {
    auto d = Make(spec);
    ASSERT_NE(d, nullptr);
    auto found = d->Detect(img);
    ASSERT_TRUE(found.ok()) << found.status();
    ASSERT_EQ(CountLabel(*found, "face"), 1) << spec;
    const auto& face = found->front();
    EXPECT_GT(face.score, 0.75f);
    // Her face is in the upper middle of the portrait.
    const float cx = face.box.x + face.box.width / 2, cy = face.box.y + face.box.height / 2;
    EXPECT_GT(cx, 150);
    EXPECT_LT(cx, 350);
    EXPECT_GT(cy, 80);
    EXPECT_LT(cy, 300);
    EXPECT_GT(face.box.width, 60) << spec;
  }
}

TEST(CascadeDetector, FindsTheFaceOnGraceHopper) {
  cv::Mat img = Load(kGraceHopper);
  ASSERT_FALSE(img.empty());
  for (const char* spec : {"lbp-face", "haar-face"}) {
    auto d = Make(spec);
    ASSERT_NE(d, nullptr);
    auto found = d->Detect(img);
    ASSERT_TRUE(found.ok()) << found.status();
    ASSERT_GE(CountLabel(*found, "face"), 1) << spec;
    const auto& face = found->front();
    const float cx = face.box.x + face.box.width / 2;
    EXPECT_GT(cx, 150) << spec;
    EXPECT_LT(cx, 350) << spec;
  }
}

TEST(Detectors, FindNoFaceOnDarknetsPersonJpg) {
  // The hiker faces away from the camera: no face detector should fire on the scene.
  cv::Mat img = Load(kPerson);
  ASSERT_FALSE(img.empty());
  for (const char* spec : {"blazeface", "blazeface:variant=front"}) {
    auto d = Make(spec);
    ASSERT_NE(d, nullptr);
    auto found = d->Detect(img);
    ASSERT_TRUE(found.ok()) << found.status();
    EXPECT_EQ(CountLabel(*found, "face"), 0) << spec;
  }
}

TEST(BlazeFaceDetector, FindsMessisFace) {
  cv::Mat img = Load(kMessi);
  ASSERT_FALSE(img.empty());
  auto d = Make("blazeface");
  ASSERT_NE(d, nullptr);
  auto found = d->Detect(img);
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(CountLabel(*found, "face"), 1);
  // His head is at about x = 205..265, y = 60..115.
  const auto& face = found->front();
  EXPECT_NEAR(face.box.x + face.box.width / 2, 235, 40);
  EXPECT_NEAR(face.box.y + face.box.height / 2, 90, 40);
}

TEST(Detectors, FindNothingOnABlankFrame) {
  const cv::Mat blank(480, 640, CV_8UC3, cv::Scalar(128, 128, 128));
  for (const char* spec :
       {"hog", "blazeface", "blazeface:variant=front", "lbp-face", "haar-face"}) {
    auto d = Make(spec);
    ASSERT_NE(d, nullptr);
    auto found = d->Detect(blank);
    ASSERT_TRUE(found.ok()) << spec << ": " << found.status();
    EXPECT_TRUE(found->empty()) << spec << " found " << found->size() << " on a blank frame";
  }
}

TEST(Detectors, RejectEmptyAndNonBgrInput) {
  HogPersonDetector hog;
  EXPECT_EQ(hog.Detect(cv::Mat()).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(hog.Detect(cv::Mat(10, 10, CV_8UC1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(DetectorSpec, ReportsUnknownKindsKeysAndMissingFiles) {
  EXPECT_EQ(MakeDetector("yolo9000", Context()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeDetector("hog:speed=11", Context()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeDetector("hog:min_weight=abc", Context()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeDetector("cascade:label=x,file=/nonexistent.xml", Context()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(MakeDetector("onnx:model=/nonexistent.onnx", Context()).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(MakeDetector("blazeface:model=/nonexistent.onnx", Context()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(OnnxOutput, ParsesYoloV5Rows) {
  // Rows (cx, cy, w, h, objectness, class0, class1) in 640x640 input pixels; real outputs have
  // thousands of rows, here 10 (8 empty).
  const int shape[] = {1, 10, 7};
  cv::Mat out(3, shape, CV_32F, cv::Scalar(0));
  float* p = out.ptr<float>();
  const float rows[2][7] = {{320, 320, 100, 200, 0.9f, 0.1f, 0.95f},
                            {100, 100, 10, 10, 0.2f, 0.9f, 0.1f}};
  std::copy(&rows[0][0], &rows[0][0] + 14, p);
  auto found = ParseYoloOutput(out, {"cat", "person"}, 0.5f, /*scale=*/2.0f, "m");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].label, "person");
  EXPECT_NEAR(found[0].score, 0.9f * 0.95f, 1e-5);
  EXPECT_NEAR(found[0].box.x, (320 - 50) * 2.0f, 1e-3);
  EXPECT_NEAR(found[0].box.height, 400, 1e-3);
}

TEST(OnnxOutput, ParsesYoloV8Columns) {
  // [1, 4+2, 8]: attributes first, one real candidate in column 3.
  const int shape[] = {1, 6, 8};
  cv::Mat out(3, shape, CV_32F, cv::Scalar(0));
  cv::Mat table(6, 8, CV_32F, out.ptr<float>());
  table.at<float>(0, 3) = 50;
  table.at<float>(1, 3) = 60;
  table.at<float>(2, 3) = 20;
  table.at<float>(3, 3) = 40;
  table.at<float>(5, 3) = 0.8f;
  auto found = ParseYoloOutput(out, {"a", "b"}, 0.5f, 1.0f, "m");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].label, "b");
  EXPECT_NEAR(found[0].box.x, 40, 1e-3);
  EXPECT_NEAR(found[0].box.y, 40, 1e-3);
}

TEST(OnnxOutput, ParsesSsdDetectionOutput) {
  const int shape[] = {1, 1, 2, 7};
  cv::Mat out(4, shape, CV_32F, cv::Scalar(0));
  const float rows[2][7] = {{0, 1, 0.8f, 0.25f, 0.5f, 0.75f, 1.0f}, {0, 2, 0.3f, 0, 0, 1, 1}};
  std::copy(&rows[0][0], &rows[0][0] + 14, out.ptr<float>());
  auto found = ParseSsdOutput(out, {"person", "car"}, 0.5f, /*label_offset=*/1, {640, 480}, "m");
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].label, "person");
  EXPECT_NEAR(found[0].box.x, 160, 1e-3);
  EXPECT_NEAR(found[0].box.y, 240, 1e-3);
  EXPECT_NEAR(found[0].box.width, 320, 1e-3);
}

TEST(SuppressOverlaps, KeepsTheBestOfOverlappingBoxesPerLabel) {
  std::vector<Detection> in = {{"face", 0.6f, {0, 0, 10, 10}, "a"},
                               {"face", 0.9f, {1, 1, 10, 10}, "b"},
                               {"person", 0.5f, {1, 1, 10, 10}, "c"},
                               {"face", 0.7f, {50, 50, 10, 10}, "a"}};
  auto out = SuppressOverlaps(in, 0.5f);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].model, "b");
}

}  // namespace
}  // namespace messagecorps::services
