// mcorps-capture: publishes video frames as protobuf.data.Image on VideoStream.
//
//   mcorps-capture --video /usr/share/doc/opencv-doc/examples/data/vtest.avi --loop
//   mcorps-capture --camera 0 --resolution 640x480 --fps 15
//   mcorps-capture --synthetic --count 300 --encoding rgb     (raw RGB, as the original sent)
//
// Frames larger than the producer's message.max.bytes (default 1,000,000) are refused with an
// error naming the way out (JPEG, a smaller --resolution, or raising message.max.bytes on the
// broker/topic and passing -X message.max.bytes=N).
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <iostream>
#include <opencv2/imgproc.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "capture/sources.h"
#include "common/frame_codec.h"
#include "common/shutdown.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "messagecorps/client_config.h"
#include "messagecorps/error.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/producer.h"
#include "messagecorps/seed_topics.h"
#include "messagecorps/tracing.h"

namespace ms = messagecorps::services;
using messagecorps::DeliveryReport;
using protobuf::data::Image;

namespace {

bool ParseResolution(const std::string& text, int* w, int* h) {
  if (text.empty()) return true;
  return std::sscanf(text.c_str(), "%dx%d", w, h) == 2 && *w > 0 && *h > 0 && *w <= 8192 &&
         *h <= 8192;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
  const messagecorps::tracing::ShutdownAtExit flush_spans;  // OTEL_* tracing, when on
  CLI::App app{"mcorps-capture: publish video frames (protobuf.data.Image) to Kafka"};
  int camera = -1;
  std::string video, images, resolution, encoding_name = "jpeg", topic = "VideoStream";
  std::string brokers, wire = "seed", metrics_host = "127.0.0.1";
  bool synthetic = false, loop = false;
  double fps = 0;
  int quality = 80, metrics_port = -1;
  int64_t count = 0;
  std::vector<std::string> properties;
  auto* src = app.add_option_group("source", "where frames come from (exactly one)");
  src->add_option("--camera", camera, "V4L2 camera index (/dev/videoN)");
  src->add_option("--video", video, "video file (.gz is decompressed into the cache)");
  src->add_option("--images", images, "folder of images, in name order");
  src->add_flag("--synthetic", synthetic, "generated moving shapes");
  src->require_option(1);
  app.add_flag("--loop", loop, "restart a video/image folder at its end");
  app.add_option("--fps", fps, "frames per second (default: the video's own rate, else 10)")
      ->check(CLI::Range(0.0, 240.0));
  app.add_option("--resolution", resolution, "WxH: resize frames (and ask the camera for it)");
  app.add_option("--encoding", encoding_name,
                 "jpeg (default), png, rgb (raw, the original's), bgr, gray");
  app.add_option("--quality", quality, "JPEG quality")->check(CLI::Range(1, 100));
  app.add_option("--topic", topic, "topic to publish to");
  app.add_option("--count", count, "stop after N frames (0: run until Ctrl-C)");
  app.add_option("--brokers", brokers, "bootstrap servers (default $MESSAGECORPS_BROKERS)");
  app.add_option("--wire-encoding", wire,
                 "Kafka value encoding: seed (zlib, the original's) or raw");
  app.add_option("-X", properties, "librdkafka property key=value (repeatable)");
  app.add_option("--metrics-port", metrics_port, "serve /metrics and /api/stats on this port");
  app.add_option("--metrics-host", metrics_host, "address for --metrics-port");
  CLI11_PARSE(app, argc, argv);

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("capture");
  int width = 0, height = 0;
  if (!ParseResolution(resolution, &width, &height)) {
    std::cerr << "mcorps-capture: --resolution must look like 640x480\n";
    return 2;
  }
  auto encoding = ms::ParseFrameEncoding(encoding_name, quality);
  auto wire_encoding = messagecorps::ParseEncoding(wire);
  if (!encoding.ok() || !wire_encoding.ok()) {
    std::cerr << "mcorps-capture: "
              << (encoding.ok() ? wire_encoding.status() : encoding.status()).message() << "\n";
    return 2;
  }
  auto resolved = messagecorps::ResolveBrokers(brokers);
  if (!resolved.ok()) {
    std::cerr << "mcorps-capture: no brokers: pass --brokers or set MESSAGECORPS_BROKERS\n";
    return 2;
  }

  absl::StatusOr<std::unique_ptr<ms::FrameSource>> source;
  if (camera >= 0) {
    source = ms::OpenCamera(camera, width, height, fps);
  } else if (!video.empty()) {
    source = ms::OpenVideo(video, loop, ms::DefaultCacheDir());
  } else if (!images.empty()) {
    source = ms::OpenImageFolder(images, loop);
  } else {
    source = ms::OpenSynthetic(width > 0 ? width : 640, height > 0 ? height : 480);
  }
  if (!source.ok()) {
    logger->critical("{}", source.status().ToString());
    return 1;
  }
  if (fps <= 0) fps = (*source)->native_fps() > 0 ? (*source)->native_fps() : 10;

  auto metrics = std::make_shared<messagecorps::Metrics>("capture");
  std::atomic<uint64_t> delivered{0}, failed{0};
  messagecorps::ProducerConfig config;
  config.brokers = *resolved;
  config.logger = logger;
  config.metrics = metrics;
  for (const auto& kv : properties) {
    auto p = messagecorps::ParseProperty(kv);
    if (!p.ok()) {
      std::cerr << "mcorps-capture: " << p.status().message() << "\n";
      return 2;
    }
    config.properties[p->first] = p->second;
  }
  auto envelope = ms::ServiceEnvelope("capture");
  if (!envelope.ok()) {
    std::cerr << "mcorps-capture: " << envelope.status().message() << "\n";
    return 2;
  }
  config.envelope = *envelope;
  config.on_delivery = [&](const DeliveryReport& r) {
    if (r.status.ok()) {
      delivered.fetch_add(1);
    } else {
      failed.fetch_add(1);
      logger->error("frame not delivered: {}", r.status.ToString());
    }
  };
  ms::EnsureTopics(*resolved, {ms::MakeTopicSpec(topic, 8)}, logger);
  auto producer = messagecorps::Producer::Create(config);
  if (!producer.ok()) {
    logger->critical("producer: {}", producer.status().ToString());
    return 1;
  }

  uint64_t sent = 0, refused = 0, encode_failed = 0;
  double encode_ms_total = 0;
  auto status = ms::StatusServer::StartIfEnabled(
      metrics,
      [&] {
        return nlohmann::json{{"service", "capture"},
                              {"sent", sent},
                              {"delivered", delivered.load()},
                              {"failed", failed.load()},
                              {"refused", refused}};
      },
      metrics_host, metrics_port);
  if (!status.ok()) {
    logger->critical("{}", status.status().ToString());
    return 1;
  }

  ms::InstallStopSignals();
  messagecorps::TopicOptions topic_options;
  topic_options.encoding = *wire_encoding;
  const messagecorps::Topic<Image> out_topic(topic, topic_options);
  logger->info("publishing {} to {} at {:.1f} fps as {} ({} encoding on the wire)",
               (*source)->name(), topic, fps, ms::FrameEncodingName(encoding->encoding), wire);
  const auto period = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(1.0 / fps));
  auto next = std::chrono::steady_clock::now();
  int exit_code = 0;
  Image image;
  for (int64_t frame = 0; count == 0 || frame < count; ++frame) {
    if (ms::StopRequested()) break;
    auto now = std::chrono::steady_clock::now();
    if (next > now) {
      if (ms::WaitForStop(std::chrono::duration_cast<std::chrono::milliseconds>(next - now))) break;
      std::this_thread::sleep_until(next);
    } else if (now - next > period) {
      next = now;  // fell behind (slow source): do not burst to catch up
    }
    next += period;

    auto mat = (*source)->Next();
    if (!mat.ok()) {
      if (mat.status().code() == absl::StatusCode::kOutOfRange) {
        logger->info("{}", std::string(mat.status().message()));
      } else {
        logger->error("{}", mat.status().ToString());
        exit_code = 1;
      }
      break;
    }
    const double capture_time = NowSeconds();
    cv::Mat pixels = *mat;
    if (width > 0 && height > 0 && (pixels.cols != width || pixels.rows != height)) {
      cv::resize(*mat, pixels, cv::Size(width, height), 0, 0, cv::INTER_AREA);
    }
    image.Clear();
    const auto t0 = std::chrono::steady_clock::now();
    if (auto s = ms::EncodeFrame(pixels, *encoding, &image); !s.ok()) {
      ++encode_failed;
      logger->error("frame {}: {}", frame, s.ToString());
      continue;
    }
    encode_ms_total +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    image.set_frame(frame);
    image.set_capture_time(capture_time);
    image.set_source((*source)->name());
    // The first frame goes synchronously: the connection set-up (up to ~1 s) then delays only it,
    // not a queue of frames behind it.
    absl::Status s;
    if (sent == 0) {
      auto report = (*producer)->SendSync(out_topic, image, {}, std::chrono::seconds(30));
      if (!report.ok()) {
        s = report.status();
      } else if (!report->status.ok()) {
        failed.fetch_add(1);
        s = report->status;
      } else {
        delivered.fetch_add(1);
      }
      next = std::chrono::steady_clock::now() + period;
    } else {
      s = (*producer)->Send(out_topic, image);
    }
    if (!s.ok()) {
      if (messagecorps::GetErrorReason(s) == messagecorps::ErrorReason::kRecordTooLarge) {
        ++refused;
        logger->error(
            "frame {} refused: the {}x{} {} frame ({} bytes before compression) is over Kafka's "
            "message size limit (producer message.max.bytes, default 1000000; brokers default to "
            "1048588). Use --encoding jpeg or a smaller --resolution, or raise message.max.bytes "
            "on the broker/topic and pass -X message.max.bytes=N",
            frame, image.width(), image.height(), ms::FrameEncodingName(encoding->encoding),
            image.ByteSizeLong());
        if (sent == 0 && refused >= 3) {
          exit_code = 1;
          break;
        }
        continue;
      }
      logger->error("frame {}: {}", frame, s.ToString());
      exit_code = 1;
      break;
    }
    ++sent;
    if (sent % 100 == 0) {
      logger->info("sent {} frames ({} delivered, last {} bytes)", sent, delivered.load(),
                   image.image_data().size());
    }
  }
  if (auto s = (*producer)->Flush(std::chrono::seconds(15)); !s.ok()) {
    logger->error("flush: {}", s.ToString());
    exit_code = 1;
  }
  nlohmann::json summary{{"service", "capture"},
                         {"source", (*source)->name()},
                         {"sent", sent},
                         {"delivered", delivered.load()},
                         {"failed", failed.load()},
                         {"refused", refused},
                         {"encode_failed", encode_failed},
                         {"encode_ms_mean", sent ? encode_ms_total / static_cast<double>(sent) : 0},
                         {"fps", fps}};
  std::cout << summary.dump() << std::endl;
  if (failed.load() > 0 || refused > 0) exit_code = exit_code ? exit_code : 1;
  return exit_code;
}
