// mcorps-display: a web page with the live video, the detected objects drawn over it, and live
// figures (fps, capture -> display latency, consumer lag, predictions/s).
//
//   GET /             the page (HTML/JS/CSS compiled in; no CDN)
//   GET /api/events   server-sent events: `frame` (JPEG as base64 + trace id), `prediction`
//   GET /api/stats    the live figures as JSON
//   GET /metrics      Prometheus text (messagecorps counters + display gauges)
//   GET /frame.jpg    the latest frame
//
// It reads VideoStream and Predictions in a consumer group of its own (every display instance
// sees everything), starting at the newest records. Frames that cannot be shown are counted and
// skipped (the prediction service dead-letters them).
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/frame_codec.h"
#include "common/shutdown.h"
#include "common/status_server.h"
#include "common/topics.h"
#include "display/live_feed.h"
#include "display/web_assets.h"
#include "messagecorps/consumer.h"
#include "messagecorps/logging.h"
#include "messagecorps/metrics.h"
#include "messagecorps/tracing.h"

namespace ms = messagecorps::services;
using protobuf::data::Image;
using protobuf::predictions::Prediction;

namespace {

std::string DefaultGroup() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  return std::string("display-") + host + "-" + std::to_string(getpid());
}

// Consumer lag per topic as Kafka tools show it (log end - committed offset), summed over the
// partitions, from librdkafka's last statistics (-1 while unknown). Cheap: no broker round trip on
// the frame path (asking for watermarks per partition cost p99 latency).
std::map<std::string, int64_t> LagByTopic(const messagecorps::Metrics& metrics) {
  std::map<std::string, int64_t> lag;
  for (const auto& client : metrics.Snapshot().clients) {
    if (client.type != "consumer") continue;
    for (const auto& p : client.partitions) {
      auto [it, inserted] = lag.emplace(p.topic, 0);
      if (p.consumer_lag < 0) {
        if (inserted) it->second = -1;
        continue;
      }
      it->second = std::max<int64_t>(it->second, 0) + p.consumer_lag;
    }
  }
  return lag;
}

}  // namespace

int main(int argc, char** argv) {
  const messagecorps::tracing::ShutdownAtExit flush_spans;  // OTEL_* tracing, when on
  CLI::App app{"mcorps-display: live video with predictions in the browser"};
  std::string brokers, host = "127.0.0.1", group, video_topic = "VideoStream";
  std::string predictions_topic = "Predictions";
  int port = 8080;
  std::vector<std::string> properties;
  app.add_option("--brokers", brokers, "bootstrap servers (default $MESSAGECORPS_BROKERS)");
  app.add_option("--port", port, "HTTP port (0: any free port, printed on stdout)");
  app.add_option("--host", host, "HTTP address (0.0.0.0 to serve other machines)");
  app.add_option("--group", group, "consumer group (default: one per process)");
  app.add_option("--video-topic", video_topic, "topic of frames");
  app.add_option("--predictions-topic", predictions_topic, "topic of predictions");
  app.add_option("-X", properties, "librdkafka property key=value (repeatable)");
  CLI11_PARSE(app, argc, argv);

  auto logger = messagecorps::logging::MakeLoggerFromEnvironment("display");
  auto resolved = messagecorps::ResolveBrokers(brokers);
  if (!resolved.ok()) {
    std::cerr << "mcorps-display: no brokers: pass --brokers or set MESSAGECORPS_BROKERS\n";
    return 2;
  }
  auto metrics = std::make_shared<messagecorps::Metrics>("display");
  messagecorps::ConsumerConfig cc;
  cc.brokers = *resolved;
  cc.logger = logger;
  cc.metrics = metrics;
  // Lag gauges every second, from offsets committed every second.
  cc.statistics_interval = std::chrono::milliseconds(1000);
  cc.properties["auto.commit.interval.ms"] = "1000";
  cc.topics = {video_topic, predictions_topic};
  cc.group_id = group.empty() ? DefaultGroup() : group;
  cc.start = messagecorps::StartOffset::kLatest;
  cc.commit = messagecorps::CommitMode::kAuto;
  for (const auto& kv : properties) {
    auto p = messagecorps::ParseProperty(kv);
    if (!p.ok()) {
      std::cerr << "mcorps-display: " << p.status().message() << "\n";
      return 2;
    }
    cc.properties[p->first] = p->second;
  }
  ms::ApplyLiveConsumerDefaults(cc);
  ms::EnsureTopics(*resolved,
                   {ms::MakeTopicSpec(video_topic, 8), ms::MakeTopicSpec(predictions_topic, 8)},
                   logger);
  auto consumer = messagecorps::Consumer::Create(cc);
  if (!consumer.ok()) {
    logger->critical("consumer: {}", consumer.status().ToString());
    return 1;
  }

  ms::LiveFeed feed;
  std::atomic<bool> stopping{false};
  ms::StatusServer server(
      metrics, [&] { return feed.Stats(); }, [&] { return feed.PrometheusText(); });
  for (const ms::WebAsset& asset : ms::WebAssets()) {
    server.server().Get(std::string(asset.path),
                        [asset](const httplib::Request&, httplib::Response& res) {
                          res.set_content(std::string(asset.body), std::string(asset.content_type));
                        });
  }
  server.server().Get("/frame.jpg", [&](const httplib::Request&, httplib::Response& res) {
    auto jpeg = feed.LatestJpeg();
    if (!jpeg) {
      res.status = 404;
      res.set_content("no frame yet\n", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(*jpeg, "image/jpeg");
  });
  server.server().Get("/api/events", [&](const httplib::Request&, httplib::Response& res) {
    auto subscriber = feed.Subscribe();
    res.set_header("Cache-Control", "no-store");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [&, subscriber](size_t, httplib::DataSink& sink) {
          std::string event;
          if (subscriber->Next(&event, std::chrono::milliseconds(1000))) {
            if (!sink.write(event.data(), event.size())) return false;
          } else if (!stopping.load() && !subscriber->closed()) {
            static constexpr char kKeepAlive[] = ": keep-alive\n\n";
            if (!sink.write(kKeepAlive, sizeof kKeepAlive - 1)) return false;
          }
          return !stopping.load() && !subscriber->closed();
        },
        [&feed, subscriber](bool) { feed.Unsubscribe(subscriber); });
  });
  if (auto s = server.Start(host, port); !s.ok()) {
    logger->critical("{}", s.ToString());
    return 1;
  }
  const std::string url = "http://" + (host == "0.0.0.0" ? std::string("127.0.0.1") : host) + ":" +
                          std::to_string(server.port()) + "/";
  std::cout << url << std::endl;
  logger->info("serving {} (group {})", url, cc.group_id);

  ms::InstallStopSignals();
  auto last_lag = std::chrono::steady_clock::now();
  while (!ms::StopRequested()) {
    auto batch = (*consumer)->Poll(std::chrono::milliseconds(100));
    if (!batch.ok()) {
      if (batch.status().code() == absl::StatusCode::kAborted) {
        logger->error("consumer: {}", batch.status().ToString());
        break;
      }
      continue;
    }
    for (const auto& record : *batch) {
      // CONSUMER span per record (empty when tracing is off); the feed's log lines carry its ids.
      const messagecorps::tracing::Span span =
          messagecorps::tracing::StartProcess(record, cc.group_id);
      if (!record.decode_status().ok()) {
        if (record.topic() == video_topic) feed.OnInvalidFrame(record.decode_status().ToString());
        continue;
      }
      if (const Image* image = record.As<Image>()) {
        auto jpeg = ms::FrameAsJpeg(*image);
        if (!jpeg.ok()) {
          feed.OnInvalidFrame(jpeg.status().ToString());
          continue;
        }
        feed.OnFrame(*image, record.trace().trace_id(), std::move(*jpeg));
      } else if (const Prediction* prediction = record.As<Prediction>()) {
        std::string_view trace = record.trace().trace_id();
        feed.OnPrediction(*prediction,
                          trace.empty() ? std::string_view(prediction->source_trace_id()) : trace);
      }
    }
    if (std::chrono::steady_clock::now() - last_lag > std::chrono::seconds(1)) {
      last_lag = std::chrono::steady_clock::now();
      feed.SetLag(LagByTopic(*metrics));
      feed.SetAssigned(static_cast<int>((*consumer)->Assignment().size()));
    }
  }
  logger->info("stopping");
  stopping.store(true);
  feed.CloseAll();
  server.Stop();
  (void)(*consumer)->Close(std::chrono::seconds(5));
  return 0;
}
