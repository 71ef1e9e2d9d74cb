#include "capture/capture_service.h"

#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/cache_dir.h"
#include "messagecorps/error.h"
#include "messagecorps/program/stop.h"

namespace messagecorps::services {
namespace {

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

void AddCaptureOptions(CLI::App& app, CaptureOptions& o) {
  auto* src = app.add_option_group("source", "where frames come from (exactly one)");
  src->add_option("--camera", o.camera, "V4L2 camera index (/dev/videoN)");
  src->add_option("--video", o.video, "video file (.gz is decompressed into the cache)");
  src->add_option("--images", o.images, "folder of images, in name order");
  src->add_flag("--synthetic", o.synthetic, "generated moving shapes");
  src->require_option(1);
  app.add_flag("--loop", o.loop, "restart a video/image folder at its end");
  app.add_option("--fps", o.fps, "frames per second (default: the video's own rate, else 10)")
      ->check(CLI::Range(0.0, 240.0));
  app.add_option("--resolution", o.resolution, "WxH: resize frames (and ask the camera for it)");
  app.add_option("--encoding", o.encoding,
                 "jpeg (default), png, rgb (raw, the original's), bgr, gray");
  app.add_option("--quality", o.quality, "JPEG quality")->check(CLI::Range(1, 100));
  app.add_option("--topic", o.topic, "topic to publish to");
  app.add_option("--count", o.count, "stop after N frames (0: run until Ctrl-C)");
  app.add_option("--wire-encoding", o.wire,
                 "Kafka value encoding: seed (zlib, the original's) or raw");
}

absl::StatusOr<CapturePlan> PlanCapture(const CaptureOptions& o) {
  CapturePlan plan;
  if (!o.resolution.empty() &&
      !(std::sscanf(o.resolution.c_str(), "%dx%d", &plan.width, &plan.height) == 2 &&
        plan.width > 0 && plan.height > 0 && plan.width <= 8192 && plan.height <= 8192)) {
    return absl::InvalidArgumentError("--resolution must look like 640x480 (at most 8192x8192)");
  }
  auto encoding = ParseFrameEncoding(o.encoding, o.quality);
  if (!encoding.ok()) return encoding.status();
  plan.encoding = *encoding;
  auto wire = ParseEncoding(o.wire);
  if (!wire.ok()) return wire.status();
  plan.wire = *wire;
  return plan;
}

absl::StatusOr<std::unique_ptr<FrameSource>> OpenSource(const CaptureOptions& o,
                                                        const CapturePlan& plan) {
  if (o.camera >= 0) return OpenCamera(o.camera, plan.width, plan.height, o.fps);
  if (!o.video.empty()) return OpenVideo(o.video, o.loop, DefaultCacheDir());
  if (!o.images.empty()) return OpenImageFolder(o.images, o.loop);
  return OpenSynthetic(plan.width > 0 ? plan.width : 640, plan.height > 0 ? plan.height : 480);
}

FramePublisher::FramePublisher(CaptureOptions options, CapturePlan plan, FrameSource& source,
                               std::shared_ptr<spdlog::logger> logger)
    : options_(std::move(options)), plan_(plan), source_(source), logger_(std::move(logger)) {
  fps_ = options_.fps > 0 ? options_.fps : (source_.native_fps() > 0 ? source_.native_fps() : 10);
}

ProducerConfig FramePublisher::MakeProducerConfig(const program::Program& program) {
  ProducerConfig config;
  static_cast<ClientConfig&>(config) = program.client();
  config.envelope = program.envelope();
  config.on_delivery = [this](const DeliveryReport& r) { OnDelivery(r); };
  return config;
}

void FramePublisher::OnDelivery(const DeliveryReport& r) {
  if (r.status.ok()) {
    delivered_.fetch_add(1);
  } else {
    failed_.fetch_add(1);
    logger_->error("frame not delivered: {}", r.status.ToString());
  }
}

absl::Status FramePublisher::SendOne(Producer& producer, const Topic<protobuf::data::Image>& topic,
                                     protobuf::data::Image& image, int64_t frame) {
  absl::Status s;
  if (sent_.load() == 0) {
    auto report = producer.SendSync(topic, image, {}, std::chrono::seconds(30));
    if (!report.ok()) {
      s = report.status();
    } else if (!report->status.ok()) {
      failed_.fetch_add(1);
      s = report->status;
    } else {
      delivered_.fetch_add(1);
    }
  } else {
    s = producer.Send(topic, image);
  }
  if (!s.ok() && GetErrorReason(s) == ErrorReason::kRecordTooLarge) {
    refused_.fetch_add(1);
    logger_->error(
        "frame {} refused: the {}x{} {} frame ({} bytes before compression) is over Kafka's "
        "message size limit (producer message.max.bytes, default 1000000; brokers default to "
        "1048588). Use --encoding jpeg or a smaller --resolution, or raise message.max.bytes "
        "on the broker/topic and pass -X message.max.bytes=N",
        frame, image.width(), image.height(), FrameEncodingName(plan_.encoding.encoding),
        image.ByteSizeLong());
  }
  return s;
}

int FramePublisher::Run(std::stop_token stop, Producer& producer) {
  TopicOptions topic_options;
  topic_options.encoding = plan_.wire;
  const Topic<protobuf::data::Image> topic(options_.topic, topic_options);
  logger_->info("publishing {} to {} at {:.1f} fps as {} ({} encoding on the wire)", source_.name(),
                options_.topic, fps_, FrameEncodingName(plan_.encoding.encoding), options_.wire);
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / fps_));
  auto next = std::chrono::steady_clock::now();
  int exit_code = 0;
  protobuf::data::Image image;
  for (int64_t frame = 0; options_.count == 0 || frame < options_.count; ++frame) {
    auto now = std::chrono::steady_clock::now();
    if (next > now) {
      if (program::SleepFor(stop, std::chrono::ceil<std::chrono::milliseconds>(next - now))) break;
    } else if (now - next > period) {
      next = now;  // fell behind (slow source): do not burst to catch up
    }
    if (stop.stop_requested()) break;
    next += period;

    auto mat = source_.Next();
    if (!mat.ok()) {
      if (mat.status().code() == absl::StatusCode::kOutOfRange) {
        logger_->info("{}", std::string(mat.status().message()));
      } else {
        logger_->error("{}", mat.status().ToString());
        exit_code = 1;
      }
      break;
    }
    const double capture_time = NowSeconds();
    cv::Mat pixels = *mat;
    if (plan_.width > 0 && plan_.height > 0 &&
        (pixels.cols != plan_.width || pixels.rows != plan_.height)) {
      cv::resize(*mat, pixels, cv::Size(plan_.width, plan_.height), 0, 0, cv::INTER_AREA);
    }
    image.Clear();
    const auto t0 = std::chrono::steady_clock::now();
    if (auto s = EncodeFrame(pixels, plan_.encoding, &image); !s.ok()) {
      ++encode_failed_;
      logger_->error("frame {}: {}", frame, s.ToString());
      continue;
    }
    encode_ms_total_ +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    image.set_frame(frame);
    image.set_capture_time(capture_time);
    image.set_source(source_.name());
    const bool first = sent_.load() == 0;
    absl::Status s = SendOne(producer, topic, image, frame);
    if (first) next = std::chrono::steady_clock::now() + period;
    if (!s.ok()) {
      if (GetErrorReason(s) == ErrorReason::kRecordTooLarge) {
        if (first && refused_.load() >= 3) {
          exit_code = 1;
          break;
        }
        continue;
      }
      logger_->error("frame {}: {}", frame, s.ToString());
      exit_code = 1;
      break;
    }
    const uint64_t sent = sent_.fetch_add(1) + 1;
    if (sent % 100 == 0) {
      logger_->info("sent {} frames ({} delivered, last {} bytes)", sent, delivered_.load(),
                    image.image_data().size());
    }
  }
  if (auto s = producer.Flush(std::chrono::seconds(15)); !s.ok()) {
    logger_->error("flush: {}", s.ToString());
    exit_code = 1;
  }
  if (failed_.load() > 0 || refused_.load() > 0) exit_code = 1;
  return exit_code;
}

nlohmann::json FramePublisher::Stats() const {
  return nlohmann::json{{"service", "capture"},
                        {"sent", sent_.load()},
                        {"delivered", delivered_.load()},
                        {"failed", failed_.load()},
                        {"refused", refused_.load()}};
}

nlohmann::json FramePublisher::Summary() const {
  const uint64_t sent = sent_.load();
  nlohmann::json j = Stats();
  j["source"] = source_.name();
  j["encode_failed"] = encode_failed_;
  j["encode_ms_mean"] = sent ? encode_ms_total_ / static_cast<double>(sent) : 0;
  j["fps"] = fps_;
  return j;
}

}  // namespace messagecorps::services
