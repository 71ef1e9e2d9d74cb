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
// Shared options (brokers, -X/-F, logging, envelope): messagecorps/program/options.h; the page's
// --port serves /metrics too.
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "common/topics.h"
#include "display/display_service.h"
#include "messagecorps/program/program.h"

namespace ms = messagecorps::services;
namespace mp = messagecorps::program;

int main(int argc, char** argv) {
  CLI::App app{"mcorps-display: live video with predictions in the browser"};
  mp::ProgramOptions shared;
  ms::DisplayOptions options;
  mp::AddClientOptions(app, shared.client);
  mp::AddLogOptions(app, shared.log);
  mp::AddEnvelopeOptions(app, shared.envelope);
  ms::AddDisplayOptions(app, options);
  CLI11_PARSE(app, argc, argv);

  auto program = mp::Program::Start("display", shared);
  if (!program.ok()) return mp::Fail("mcorps-display", program.status());
  mp::Program& p = **program;
  ms::EnsureTopics(p.client(), {ms::MakeTopicSpec(options.video_topic, 8),
                                ms::MakeTopicSpec(options.predictions_topic, 8)});
  const messagecorps::ConsumerConfig cc = ms::DisplayConsumerConfig(p, options);
  auto consumer = messagecorps::Consumer::Create(cc);
  if (!consumer.ok()) return p.Finish(consumer.status());

  ms::LiveFeed feed;
  std::atomic<bool> stopping{false};
  ms::StatusServer server(
      p.metrics(), [&] { return feed.Stats(); }, [&] { return feed.PrometheusText(); });
  ms::AddDisplayRoutes(server, feed, options, stopping);
  if (auto s = server.Start(options.host, options.port); !s.ok()) return p.Finish(s);
  const std::string shown_host = options.host == "0.0.0.0" ? "127.0.0.1" : options.host;
  const std::string url = "http://" + shown_host + ":" + std::to_string(server.port()) + "/";
  std::cout << url << std::endl;
  p.logger()->info("serving {} (group {})", url, cc.group_id);

  const absl::Status result =
      ms::FeedUntilStopped(p.stop_token(), **consumer, feed, *p.metrics(), options.video_topic);
  p.logger()->info("stopping");
  stopping.store(true);
  feed.CloseAll();
  server.Stop();
  (void)(*consumer)->Close(std::chrono::seconds(5));
  return p.Finish(result);
}
