// Where frames come from: a V4L2 camera, a video file (optionally looped; .gz files are
// decompressed into the cache first), a folder of images, or a synthetic generator.
//
// A FrameSource is used from one thread. Frames are 8-bit BGR.
#pragma once

#include <cstdint>
#include <memory>
#include <opencv2/core/mat.hpp>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cache_dir.h"

namespace messagecorps::services {

class FrameSource {
 public:
  virtual ~FrameSource() = default;
  // The next frame; kOutOfRange at the end of a finite source, kUnavailable when a camera fails.
  virtual absl::StatusOr<cv::Mat> Next() = 0;
  // A name for Image.source ("camera:0", the file name, "synthetic").
  virtual std::string name() const = 0;
  // The source's own frame rate, 0 when it has none (images, synthetic).
  virtual double native_fps() const { return 0; }
};

// Camera by index (V4L2). `width`/`height`/`fps` are requested from the driver when > 0.
absl::StatusOr<std::unique_ptr<FrameSource>> OpenCamera(int index, int width, int height,
                                                        double fps);
// A video file; `loop` restarts it at the end. A path ending in .gz is decompressed once into
// `cache_dir` (kept there) and that copy is read.
absl::StatusOr<std::unique_ptr<FrameSource>> OpenVideo(const std::string& path, bool loop,
                                                       const std::string& cache_dir);
// The images of a folder (jpg, jpeg, png, bmp), in name order.
absl::StatusOr<std::unique_ptr<FrameSource>> OpenImageFolder(const std::string& dir, bool loop);
// Moving shapes and a frame counter, deterministic.
std::unique_ptr<FrameSource> OpenSynthetic(int width, int height);

// `path` itself, or for a .gz file the decompressed copy in `cache_dir` (made if missing or
// older than the source).
absl::StatusOr<std::string> DecompressedPath(const std::string& path, const std::string& cache_dir);

}  // namespace messagecorps::services
