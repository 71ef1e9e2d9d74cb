#include "common/frame_codec.h"

#include <algorithm>
#include <cctype>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/rejection.h"

namespace messagecorps::services {

using protobuf::data::Image;

absl::StatusOr<FrameEncoding> ParseFrameEncoding(std::string_view name, int jpeg_quality) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return std::tolower(c); });
  if (jpeg_quality < 1 || jpeg_quality > 100) {
    return absl::InvalidArgumentError(
        absl::StrCat("JPEG quality ", jpeg_quality, " not in 1..100"));
  }
  FrameEncoding e;
  e.jpeg_quality = jpeg_quality;
  if (n == "jpeg" || n == "jpg") {
    e.encoding = Image::JPEG;
  } else if (n == "png") {
    e.encoding = Image::PNG;
  } else if (n == "rgb" || n == "raw" || n == "raw_rgb") {
    e.encoding = Image::RAW_RGB;
  } else if (n == "bgr" || n == "raw_bgr") {
    e.encoding = Image::RAW_BGR;
  } else if (n == "gray" || n == "raw_gray") {
    e.encoding = Image::RAW_GRAY;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown frame encoding '", std::string(name),
                                                   "' (jpeg, png, rgb, bgr, gray)"));
  }
  return e;
}

std::string_view FrameEncodingName(Image::Encoding encoding) {
  switch (encoding) {
    case Image::RAW_RGB:
      return "rgb";
    case Image::RAW_BGR:
      return "bgr";
    case Image::JPEG:
      return "jpeg";
    case Image::PNG:
      return "png";
    case Image::RAW_GRAY:
      return "gray";
    default:
      return "unknown";
  }
}

absl::Status EncodeFrame(const cv::Mat& bgr, const FrameEncoding& encoding, Image* out) {
  if (bgr.empty() || bgr.depth() != CV_8U || (bgr.channels() != 3 && bgr.channels() != 1)) {
    return absl::InvalidArgumentError("EncodeFrame: expected a non-empty 8-bit BGR or gray image");
  }
  cv::Mat src = bgr;
  if (src.channels() == 1 && encoding.encoding != Image::RAW_GRAY) {
    cv::cvtColor(bgr, src, cv::COLOR_GRAY2BGR);
  }
  out->set_width(src.cols);
  out->set_height(src.rows);
  out->set_encoding(encoding.encoding);
  switch (encoding.encoding) {
    case Image::JPEG:
    case Image::PNG: {
      std::vector<uchar> buf;
      std::vector<int> params;
      if (encoding.encoding == Image::JPEG) {
        params = {cv::IMWRITE_JPEG_QUALITY, encoding.jpeg_quality};
      } else {
        params = {cv::IMWRITE_PNG_COMPRESSION, 1};
      }
      if (!cv::imencode(encoding.encoding == Image::JPEG ? ".jpg" : ".png", src, buf, params)) {
        return absl::InternalError("EncodeFrame: imencode failed");
      }
      out->set_channels(src.channels());
      out->set_image_data(buf.data(), buf.size());
      return absl::OkStatus();
    }
    case Image::RAW_RGB:
    case Image::RAW_BGR:
    case Image::RAW_GRAY: {
      cv::Mat converted;
      if (encoding.encoding == Image::RAW_RGB) {
        cv::cvtColor(src, converted, cv::COLOR_BGR2RGB);
      } else if (encoding.encoding == Image::RAW_GRAY) {
        if (src.channels() == 3) {
          cv::cvtColor(src, converted, cv::COLOR_BGR2GRAY);
        } else {
          converted = src;
        }
      } else {
        converted = src;
      }
      if (!converted.isContinuous()) converted = converted.clone();
      out->set_channels(converted.channels());
      out->set_image_data(reinterpret_cast<const char*>(converted.data),
                          converted.total() * converted.elemSize());
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("EncodeFrame: unsupported encoding");
  }
}

absl::StatusOr<cv::Mat> DecodeFrame(const Image& image) {
  const std::string& data = image.image_data();
  if (data.empty()) return Rejected("invalid-frame", "frame has no image_data");
  if (image.width() <= 0 || image.height() <= 0 || image.width() > 16384 ||
      image.height() > 16384) {
    return Rejected("invalid-frame", absl::StrCat("frame declares an invalid size ", image.width(),
                                                  "x", image.height()));
  }
  switch (image.encoding()) {
    case Image::JPEG:
    case Image::PNG: {
      cv::Mat buf(1, static_cast<int>(data.size()), CV_8U, const_cast<char*>(data.data()));
      cv::Mat decoded;
      try {
        decoded = cv::imdecode(buf, cv::IMREAD_COLOR);
      } catch (const cv::Exception& e) {
        decoded.release();
      }
      if (decoded.empty()) {
        return Rejected("corrupt-image",
                        absl::StrCat("corrupt ", std::string(FrameEncodingName(image.encoding())),
                                     ": the image_data does not decode (", data.size(), " bytes)"));
      }
      if (decoded.cols != image.width() || decoded.rows != image.height()) {
        return Rejected(
            "frame-size-mismatch",
            absl::StrCat("frame size mismatch: declared ", image.width(), "x", image.height(),
                         ", pixels are ", decoded.cols, "x", decoded.rows));
      }
      return decoded;
    }
    case Image::RAW_RGB:
    case Image::RAW_BGR:
    case Image::RAW_GRAY: {
      const int channels = image.encoding() == Image::RAW_GRAY ? 1 : 3;
      if (image.channels() != 0 && image.channels() != channels) {
        return Rejected("invalid-frame",
                        absl::StrCat("frame declares ", image.channels(), " channels for ",
                                     std::string(FrameEncodingName(image.encoding()))));
      }
      const size_t want = static_cast<size_t>(image.width()) * image.height() * channels;
      if (data.size() != want) {
        return Rejected(
            "frame-size-mismatch",
            absl::StrCat("frame size mismatch: declared ", image.width(), "x", image.height(), "x",
                         channels, " = ", want, " bytes, image_data has ", data.size()));
      }
      cv::Mat view(image.height(), image.width(), channels == 1 ? CV_8UC1 : CV_8UC3,
                   const_cast<char*>(data.data()));
      cv::Mat bgr;
      if (image.encoding() == Image::RAW_RGB) {
        cv::cvtColor(view, bgr, cv::COLOR_RGB2BGR);
      } else if (image.encoding() == Image::RAW_GRAY) {
        cv::cvtColor(view, bgr, cv::COLOR_GRAY2BGR);
      } else {
        bgr = view.clone();
      }
      return bgr;
    }
    default:
      return Rejected("invalid-frame", absl::StrCat("unknown frame encoding value ",
                                                    static_cast<int>(image.encoding())));
  }
}

absl::StatusOr<std::string> FrameAsJpeg(const Image& image, int quality) {
  const std::string& data = image.image_data();
  if (image.encoding() == Image::JPEG && data.size() > 3 &&
      static_cast<unsigned char>(data[0]) == 0xFF && static_cast<unsigned char>(data[1]) == 0xD8) {
    return data;
  }
  auto bgr = DecodeFrame(image);
  if (!bgr.ok()) return bgr.status();
  std::vector<uchar> buf;
  if (!cv::imencode(".jpg", *bgr, buf, {cv::IMWRITE_JPEG_QUALITY, quality})) {
    return absl::InternalError("imencode failed");
  }
  return std::string(buf.begin(), buf.end());
}

}  // namespace messagecorps::services
