#include "capture/sources.h"

#include <zlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include "absl/strings/str_cat.h"

namespace messagecorps::services {
namespace fs = std::filesystem;
namespace {

class CaptureSource : public FrameSource {
 public:
  CaptureSource(std::unique_ptr<cv::VideoCapture> capture, std::string name, bool loop,
                bool is_camera)
      : capture_(std::move(capture)), name_(std::move(name)), loop_(loop), camera_(is_camera) {}

  absl::StatusOr<cv::Mat> Next() override {
    cv::Mat frame;
    if (capture_->read(frame) && !frame.empty()) return frame;
    if (camera_) return absl::UnavailableError(absl::StrCat(name_, ": camera returned no frame"));
    if (!loop_) return absl::OutOfRangeError(absl::StrCat(name_, ": end of video"));
    capture_->set(cv::CAP_PROP_POS_FRAMES, 0);
    if (capture_->read(frame) && !frame.empty()) return frame;
    return absl::UnavailableError(absl::StrCat(name_, ": cannot rewind the video"));
  }
  std::string name() const override { return name_; }
  double native_fps() const override {
    double fps = capture_->get(cv::CAP_PROP_FPS);
    return fps > 0 && fps < 1000 ? fps : 0;
  }

 private:
  std::unique_ptr<cv::VideoCapture> capture_;
  std::string name_;
  bool loop_;
  bool camera_;
};

class FolderSource : public FrameSource {
 public:
  FolderSource(std::vector<fs::path> files, std::string name, bool loop)
      : files_(std::move(files)), name_(std::move(name)), loop_(loop) {}

  absl::StatusOr<cv::Mat> Next() override {
    for (size_t tries = 0; tries < files_.size(); ++tries) {
      if (next_ >= files_.size()) {
        if (!loop_) return absl::OutOfRangeError(absl::StrCat(name_, ": no more images"));
        next_ = 0;
      }
      cv::Mat img = cv::imread(files_[next_++].string(), cv::IMREAD_COLOR);
      if (!img.empty()) return img;
    }
    return absl::InvalidArgumentError(absl::StrCat(name_, ": no readable image"));
  }
  std::string name() const override { return name_; }

 private:
  std::vector<fs::path> files_;
  std::string name_;
  bool loop_;
  size_t next_ = 0;
};

class SyntheticSource : public FrameSource {
 public:
  SyntheticSource(int width, int height) : width_(width), height_(height) {}

  absl::StatusOr<cv::Mat> Next() override {
    cv::Mat img(height_, width_, CV_8UC3, cv::Scalar(40, 30, 20));
    const int t = static_cast<int>(n_++);
    // A horizontal gradient so JPEG sizes resemble a real scene more than a flat colour.
    for (int x = 0; x < width_; x += 8) {
      cv::rectangle(img, {x, 0}, {x + 8, height_ / 3}, cv::Scalar(x * 255 / width_, 80, 120),
                    cv::FILLED);
    }
    const int cx = (t * 7) % std::max(width_, 1);
    const int cy = height_ / 2 + static_cast<int>((height_ / 4) * std::sin(t / 10.0));
    cv::circle(img, {cx, cy}, std::max(8, height_ / 10), cv::Scalar(0, 200, 255), cv::FILLED);
    cv::rectangle(img, {(width_ - cx) % width_, height_ / 5},
                  {(width_ - cx) % width_ + width_ / 8, height_ / 5 + height_ / 6},
                  cv::Scalar(255, 120, 0), cv::FILLED);
    cv::putText(img, absl::StrCat("frame ", t), {10, height_ - 15}, cv::FONT_HERSHEY_SIMPLEX,
                std::max(0.4, height_ / 600.0), cv::Scalar(255, 255, 255), 2);
    return img;
  }
  std::string name() const override { return "synthetic"; }

 private:
  int width_, height_;
  uint64_t n_ = 0;
};

}  // namespace

absl::StatusOr<std::string> DecompressedPath(const std::string& path,
                                             const std::string& cache_dir) {
  if (!fs::exists(path)) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
  if (path.size() < 3 || path.substr(path.size() - 3) != ".gz") return path;
  fs::path out_dir = fs::path(cache_dir) / "media";
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec)
    return absl::InternalError(
        absl::StrCat("cannot create ", out_dir.string(), ": ", ec.message()));
  fs::path out = out_dir / fs::path(path).stem();  // vtest.avi.gz -> vtest.avi
  if (fs::exists(out) && fs::last_write_time(out) >= fs::last_write_time(path)) {
    return out.string();
  }
  gzFile in = gzopen(path.c_str(), "rb");
  if (in == nullptr) return absl::InternalError(absl::StrCat("cannot open ", path));
  const std::string tmp = out.string() + ".part";
  std::ofstream dst(tmp, std::ios::binary);
  char buf[1 << 16];
  int n;
  while ((n = gzread(in, buf, sizeof buf)) > 0) dst.write(buf, n);
  const bool failed = n < 0;
  gzclose(in);
  dst.close();
  if (failed || !dst) {
    fs::remove(tmp, ec);
    return absl::InternalError(absl::StrCat("cannot decompress ", path));
  }
  fs::rename(tmp, out, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot write ", out.string()));
  return out.string();
}

absl::StatusOr<std::unique_ptr<FrameSource>> OpenCamera(int index, int width, int height,
                                                        double fps) {
  auto capture = std::make_unique<cv::VideoCapture>();
  if (!capture->open(index, cv::CAP_V4L2) || !capture->isOpened()) {
    return absl::UnavailableError(
        absl::StrCat("camera ", index, " (/dev/video", index, ") cannot be opened"));
  }
  if (width > 0) capture->set(cv::CAP_PROP_FRAME_WIDTH, width);
  if (height > 0) capture->set(cv::CAP_PROP_FRAME_HEIGHT, height);
  if (fps > 0) capture->set(cv::CAP_PROP_FPS, fps);
  return std::unique_ptr<FrameSource>(
      new CaptureSource(std::move(capture), absl::StrCat("camera:", index), false, true));
}

absl::StatusOr<std::unique_ptr<FrameSource>> OpenVideo(const std::string& path, bool loop,
                                                       const std::string& cache_dir) {
  auto readable = DecompressedPath(path, cache_dir);
  if (!readable.ok()) return readable.status();
  auto capture = std::make_unique<cv::VideoCapture>();
  if (!capture->open(*readable, cv::CAP_ANY) || !capture->isOpened()) {
    return absl::InvalidArgumentError(absl::StrCat(*readable, ": not a video OpenCV can read"));
  }
  return std::unique_ptr<FrameSource>(
      new CaptureSource(std::move(capture), fs::path(*readable).filename().string(), loop, false));
}

absl::StatusOr<std::unique_ptr<FrameSource>> OpenImageFolder(const std::string& dir, bool loop) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat(dir, ": not a folder"));
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".jpg" || ext == ".jpeg" || ext == ".png" || ext == ".bmp") {
      files.push_back(entry.path());
    }
  }
  if (files.empty()) return absl::NotFoundError(absl::StrCat(dir, ": no images"));
  std::sort(files.begin(), files.end());
  return std::unique_ptr<FrameSource>(
      new FolderSource(std::move(files), fs::path(dir).filename().string(), loop));
}

std::unique_ptr<FrameSource> OpenSynthetic(int width, int height) {
  return std::make_unique<SyntheticSource>(width, height);
}

}  // namespace messagecorps::services
