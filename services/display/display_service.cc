#include "display/display_service.h"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/frame_codec.h"
#include "common/topics.h"
#include "display/web_assets.h"
#include "messagecorps/tracing.h"

namespace messagecorps::services {
namespace {

std::string DefaultGroup() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  return std::string("display-") + host + "-" + std::to_string(getpid());
}

}  // namespace

void AddDisplayOptions(CLI::App& app, DisplayOptions& o) {
  app.add_option("--port", o.port, "HTTP port (0: any free port, printed on stdout)");
  app.add_option("--host", o.host, "HTTP address (0.0.0.0 to serve other machines)");
  app.add_option("--group", o.group, "consumer group (default: one per process)");
  app.add_option("--video-topic", o.video_topic, "topic of frames");
  app.add_option("--predictions-topic", o.predictions_topic, "topic of predictions");
  app.add_option("--trace-url", o.trace_url,
                 "link each prediction's trace to this URL, {trace_id} replaced (e.g. a Jaeger "
                 "UI's http://HOST:16686/trace/{trace_id})")
      ->check(CLI::Validator(
          [](const std::string& url) {
            return url.find("{trace_id}") == std::string::npos
                       ? std::string("the URL must contain {trace_id}: ") + url
                       : std::string();
          },
          "URL with {trace_id}"));
}

ConsumerConfig DisplayConsumerConfig(const program::Program& program, const DisplayOptions& o) {
  ConsumerConfig cc;
  static_cast<ClientConfig&>(cc) = program.client();
  // Lag gauges every second, from offsets committed every second.
  cc.statistics_interval = std::chrono::milliseconds(1000);
  cc.properties.try_emplace("auto.commit.interval.ms", "1000");
  ApplyLiveConsumerDefaults(cc.properties, program.client());
  cc.topics = {o.video_topic, o.predictions_topic};
  cc.group_id = o.group.empty() ? DefaultGroup() : o.group;
  cc.start = StartOffset::kLatest;
  cc.commit = CommitMode::kAuto;
  return cc;
}

std::map<std::string, int64_t> LagByTopic(const Metrics& metrics) {
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

void Show(const ReceivedMessage& record, const std::string& video_topic, LiveFeed& feed) {
  using protobuf::data::Image;
  using protobuf::predictions::Prediction;
  if (!record.decode_status().ok()) {
    if (record.topic() == video_topic) feed.OnInvalidFrame(record.decode_status().ToString());
    return;
  }
  if (const Image* image = record.As<Image>()) {
    auto jpeg = FrameAsJpeg(*image);
    if (!jpeg.ok()) {
      feed.OnInvalidFrame(jpeg.status().ToString());
      return;
    }
    feed.OnFrame(*image, record.trace().trace_id(), std::move(*jpeg));
  } else if (const Prediction* prediction = record.As<Prediction>()) {
    std::string_view trace = record.trace().trace_id();
    feed.OnPrediction(*prediction,
                      trace.empty() ? std::string_view(prediction->source_trace_id()) : trace);
  }
}

void AddDisplayRoutes(StatusServer& server, LiveFeed& feed, const DisplayOptions& options,
                      const std::atomic<bool>& stopping) {
  server.server().Get("/api/config",
                      [config = nlohmann::json{{"trace_url", options.trace_url}}.dump()](
                          const httplib::Request&, httplib::Response& res) {
                        res.set_content(config, "application/json");
                      });
  for (const WebAsset& asset : WebAssets()) {
    server.server().Get(std::string(asset.path),
                        [asset](const httplib::Request&, httplib::Response& res) {
                          res.set_content(std::string(asset.body), std::string(asset.content_type));
                        });
  }
  server.server().Get("/frame.jpg", [&feed](const httplib::Request&, httplib::Response& res) {
    auto jpeg = feed.LatestJpeg();
    if (!jpeg) {
      res.status = 404;
      res.set_content("no frame yet\n", "text/plain");
      return;
    }
    res.set_header("Cache-Control", "no-store");
    res.set_content(*jpeg, "image/jpeg");
  });
  server.server().Get("/api/events",
                      [&feed, &stopping](const httplib::Request&, httplib::Response& res) {
                        auto subscriber = feed.Subscribe();
                        res.set_header("Cache-Control", "no-store");
                        res.set_header("X-Accel-Buffering", "no");
                        res.set_chunked_content_provider(
                            "text/event-stream",
                            [&stopping, subscriber](size_t, httplib::DataSink& sink) {
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
}

absl::Status FeedUntilStopped(std::stop_token stop, Consumer& consumer, LiveFeed& feed,
                              const Metrics& metrics, const std::string& video_topic) {
  auto last_lag = std::chrono::steady_clock::now();
  while (!stop.stop_requested()) {
    auto batch = consumer.Poll(std::chrono::milliseconds(100));
    if (!batch.ok()) {
      if (batch.status().code() == absl::StatusCode::kAborted) return batch.status();
      continue;
    }
    for (const auto& record : *batch) {
      // CONSUMER span per record (empty when tracing is off); the feed's log lines carry its ids.
      const tracing::Span span = tracing::StartProcess(record, consumer.group_id());
      Show(record, video_topic, feed);
    }
    if (std::chrono::steady_clock::now() - last_lag > std::chrono::seconds(1)) {
      last_lag = std::chrono::steady_clock::now();
      feed.SetLag(LagByTopic(metrics));
      feed.SetAssigned(static_cast<int>(consumer.Assignment().size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace messagecorps::services
