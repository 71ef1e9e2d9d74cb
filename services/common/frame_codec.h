// Video frames as protobuf.data.Image messages, and back to OpenCV images.
//
// Encodings (Image.encoding): JPEG (default: ~18x smaller than raw, 0.8 ms per 640x480 frame),
// PNG, and the raw layouts RAW_RGB (what the original sent), RAW_BGR and RAW_GRAY.
// DecodeFrame checks the message against what it declares: a corrupt JPEG, a width/height that does
// not match the pixels, or a raw buffer of the wrong size are kInvalidArgument errors whose message
// says which, so a service can dead-letter the record with that reason.
//
// Thread-safety: pure functions.
#pragma once

#include <opencv2/core/mat.hpp>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "protobuf/data/ImageData.pb.h"

namespace messagecorps::services {

struct FrameEncoding {
  protobuf::data::Image::Encoding encoding = protobuf::data::Image::JPEG;
  int jpeg_quality = 80;
};

// "jpeg", "png", "rgb" (raw RGB, the original's), "bgr", "gray".
absl::StatusOr<FrameEncoding> ParseFrameEncoding(std::string_view name, int jpeg_quality);
std::string_view FrameEncodingName(protobuf::data::Image::Encoding encoding);

// Fills image_data, width, height, channels and encoding of `out` from a BGR (or gray) image.
absl::Status EncodeFrame(const cv::Mat& bgr, const FrameEncoding& encoding,
                         protobuf::data::Image* out);

// The frame as an 8-bit BGR image (gray frames are expanded). kInvalidArgument when the pixels do
// not decode or do not match the declared width/height/channels.
absl::StatusOr<cv::Mat> DecodeFrame(const protobuf::data::Image& image);

// The frame as JPEG bytes: the payload itself when it already is JPEG (checked only for its
// magic), else decoded and re-encoded at `quality`.
absl::StatusOr<std::string> FrameAsJpeg(const protobuf::data::Image& image, int quality = 80);

}  // namespace messagecorps::services
