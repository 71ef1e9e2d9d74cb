// The frames the detectors get: EncodeFrame/DecodeFrame round trips for every Image.encoding, and
// the rejections (with their reason codes) that send bad frames to the dead-letter queue.
#include <gtest/gtest.h>

#include <opencv2/imgproc.hpp>

#include "common/frame_codec.h"
#include "common/rejection.h"

namespace messagecorps::services {
namespace {

using protobuf::data::Image;

cv::Mat TestImage() {
  cv::Mat img(48, 64, CV_8UC3, cv::Scalar(10, 120, 200));
  cv::rectangle(img, {8, 8}, {40, 30}, cv::Scalar(250, 20, 20), cv::FILLED);
  return img;
}

TEST(FrameCodec, RoundTripsEveryEncoding) {
  const cv::Mat src = TestImage();
  for (const char* name : {"jpeg", "png", "rgb", "bgr", "gray"}) {
    auto encoding = ParseFrameEncoding(name, 90);
    ASSERT_TRUE(encoding.ok()) << name;
    Image image;
    ASSERT_TRUE(EncodeFrame(src, *encoding, &image).ok()) << name;
    EXPECT_EQ(image.width(), 64);
    EXPECT_EQ(image.height(), 48);
    auto back = DecodeFrame(image);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status();
    ASSERT_EQ(back->size(), src.size());
    ASSERT_EQ(back->type(), CV_8UC3);
    if (std::string(name) == "gray") continue;  // colour is gone by design
    const double diff = cv::norm(*back, src, cv::NORM_L1) / static_cast<double>(src.total() * 3);
    EXPECT_LT(diff, std::string(name) == "jpeg" ? 6.0 : 0.001) << name;
  }
}

TEST(FrameCodec, RawRgbIsTheOriginalsChannelOrder) {
  Image image;
  ASSERT_TRUE(EncodeFrame(TestImage(), {Image::RAW_RGB, 80}, &image).ok());
  EXPECT_EQ(image.encoding(), Image::RAW_RGB);  // 0: what the original sent
  ASSERT_EQ(image.image_data().size(), 64u * 48 * 3);
  // The first pixel is BGR (10, 120, 200) in OpenCV: RGB bytes are 200, 120, 10.
  EXPECT_EQ(static_cast<unsigned char>(image.image_data()[0]), 200);
  EXPECT_EQ(static_cast<unsigned char>(image.image_data()[2]), 10);
}

TEST(FrameCodec, RejectsCorruptAndMismatchedFramesWithTheirReasons) {
  Image good;
  ASSERT_TRUE(EncodeFrame(TestImage(), {Image::JPEG, 80}, &good).ok());

  Image corrupt = good;
  corrupt.mutable_image_data()->replace(2, 64, std::string(64, '\x07'));
  corrupt.mutable_image_data()->resize(100);
  EXPECT_EQ(RejectionReason(DecodeFrame(corrupt).status()), "corrupt-image");

  Image wrong_size = good;
  wrong_size.set_width(640);
  wrong_size.set_height(480);
  auto s = DecodeFrame(wrong_size).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RejectionReason(s), "frame-size-mismatch");
  EXPECT_NE(std::string(s.message()).find("declared 640x480, pixels are 64x48"), std::string::npos)
      << s;

  Image raw;
  ASSERT_TRUE(EncodeFrame(TestImage(), {Image::RAW_BGR, 80}, &raw).ok());
  raw.mutable_image_data()->pop_back();
  EXPECT_EQ(RejectionReason(DecodeFrame(raw).status()), "frame-size-mismatch");

  Image empty;
  EXPECT_EQ(RejectionReason(DecodeFrame(empty).status()), "invalid-frame");
  Image zero = good;
  zero.set_width(0);
  EXPECT_EQ(RejectionReason(DecodeFrame(zero).status()), "invalid-frame");
}

TEST(FrameCodec, ParsesEncodingNames) {
  EXPECT_EQ(ParseFrameEncoding("JPEG", 80)->encoding, Image::JPEG);
  EXPECT_EQ(ParseFrameEncoding("raw", 80)->encoding, Image::RAW_RGB);
  EXPECT_FALSE(ParseFrameEncoding("webp", 80).ok());
  EXPECT_FALSE(ParseFrameEncoding("jpeg", 0).ok());
}

TEST(FrameCodec, PassesJpegThroughForTheDisplay) {
  Image good;
  ASSERT_TRUE(EncodeFrame(TestImage(), {Image::JPEG, 80}, &good).ok());
  auto jpeg = FrameAsJpeg(good);
  ASSERT_TRUE(jpeg.ok());
  EXPECT_EQ(*jpeg, good.image_data());
  Image raw;
  ASSERT_TRUE(EncodeFrame(TestImage(), {Image::RAW_RGB, 80}, &raw).ok());
  auto converted = FrameAsJpeg(raw);
  ASSERT_TRUE(converted.ok());
  EXPECT_EQ(static_cast<unsigned char>((*converted)[0]), 0xFF);
  EXPECT_EQ(static_cast<unsigned char>((*converted)[1]), 0xD8);
}

}  // namespace
}  // namespace messagecorps::services
