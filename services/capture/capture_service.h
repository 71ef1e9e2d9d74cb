// mcorps-capture's parts beyond the library: its own options and what they mean (source, size,
// encodings, pace), and the publishing loop with its counts and summary line.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <stop_token>
#include <string>

#include "absl/status/statusor.h"
#include "capture/sources.h"
#include "common/frame_codec.h"
#include "messagecorps/codec.h"
#include "messagecorps/producer.h"
#include "messagecorps/program/program.h"

namespace CLI {
class App;
}

namespace messagecorps::services {

struct CaptureOptions {
  int camera = -1;
  std::string video, images;
  bool synthetic = false, loop = false;
  double fps = 0;          // 0: the source's own rate, else 10
  std::string resolution;  // WxH
  std::string encoding = "jpeg";
  int quality = 80;
  std::string topic = "VideoStream";
  int64_t count = 0;  // 0: until stopped
  std::string wire = "seed";
};

// Registers capture's own options (exactly one source: --camera --video --images --synthetic).
void AddCaptureOptions(CLI::App& app, CaptureOptions& options);

// What the options mean, checked: kInvalidArgument naming the option.
struct CapturePlan {
  int width = 0, height = 0;  // 0: keep the source's size
  FrameEncoding encoding;
  Encoding wire = Encoding::kSeed;
};
absl::StatusOr<CapturePlan> PlanCapture(const CaptureOptions& options);

// Opens the source the options name.
absl::StatusOr<std::unique_ptr<FrameSource>> OpenSource(const CaptureOptions& options,
                                                        const CapturePlan& plan);

// Publishes frames from a source at a steady pace and counts what happened to them.
// Threads: Run on one thread; OnDelivery on the producer's; Stats from any.
class FramePublisher {
 public:
  FramePublisher(CaptureOptions options, CapturePlan plan, FrameSource& source,
                 std::shared_ptr<spdlog::logger> logger);

  // The producer's configuration: the program's client configuration and envelope, deliveries
  // counted here.
  ProducerConfig MakeProducerConfig(const program::Program& program);

  // Frames until --count, the source's end, `stop`, or an error. The exit code: 0, or 1 when a
  // frame failed (source error, refused, not delivered, flush failed). The first frame goes
  // synchronously: the connection set-up then delays only it, not a queue behind it. A frame
  // over the size limit is refused with an error naming the way out; three refused before any
  // was sent end the run.
  int Run(std::stop_token stop, Producer& producer);

  double fps() const { return fps_; }
  // The summary line (printed at exit) and the live figures (/api/stats).
  nlohmann::json Summary() const;
  nlohmann::json Stats() const;

 private:
  void OnDelivery(const DeliveryReport& report);
  absl::Status SendOne(Producer& producer, const Topic<protobuf::data::Image>& topic,
                       protobuf::data::Image& image, int64_t frame);

  CaptureOptions options_;
  CapturePlan plan_;
  FrameSource& source_;
  std::shared_ptr<spdlog::logger> logger_;
  double fps_ = 10;
  std::atomic<uint64_t> sent_{0}, delivered_{0}, failed_{0}, refused_{0};
  uint64_t encode_failed_ = 0;
  double encode_ms_total_ = 0;
};

}  // namespace messagecorps::services
