// mcorps-display's parts beyond the library: its own options, its consumer, the web routes over
// the live feed, and the loop that feeds it.
#pragma once

#include <atomic>
#include <map>
#include <stop_token>
#include <string>

#include "absl/status/status.h"
#include "common/status_server.h"
#include "display/live_feed.h"
#include "messagecorps/consumer.h"
#include "messagecorps/metrics.h"
#include "messagecorps/program/program.h"

namespace CLI {
class App;
}

namespace messagecorps::services {

struct DisplayOptions {
  std::string host = "127.0.0.1";
  int port = 8080;    // 0: any free port (printed on stdout)
  std::string group;  // empty: one per process (display-HOST-PID)
  std::string video_topic = "VideoStream";
  std::string predictions_topic = "Predictions";
  // Empty, or a URL with `{trace_id}` where a trace id goes (e.g. Jaeger's UI:
  // http://127.0.0.1:16686/trace/{trace_id}): the page links each prediction's trace to it.
  std::string trace_url;
};

// Registers display's own options (--port --host --group --video-topic --predictions-topic
// --trace-url). A --trace-url without `{trace_id}` is refused at parse time.
void AddDisplayOptions(CLI::App& app, DisplayOptions& options);

// The consumer: the program's client configuration, both topics, a group of its own from the
// newest records, auto-commit every second and statistics every second (the lag figures),
// ApplyLiveConsumerDefaults (a user's -X of the same key wins).
ConsumerConfig DisplayConsumerConfig(const program::Program& program,
                                     const DisplayOptions& options);

// Consumer lag per topic as Kafka tools show it (log end - committed offset), summed over the
// partitions, from librdkafka's last statistics (-1 while unknown).
std::map<std::string, int64_t> LagByTopic(const Metrics& metrics);

// Hands one record to the feed: a frame (as JPEG), a prediction, or an invalid frame counted.
void Show(const ReceivedMessage& record, const std::string& video_topic, LiveFeed& feed);

// Adds the page, /frame.jpg, /api/config ({"trace_url": options.trace_url}, read by the page) and
// /api/events (server-sent events until `stopping`) to `server`.
void AddDisplayRoutes(StatusServer& server, LiveFeed& feed, const DisplayOptions& options,
                      const std::atomic<bool>& stopping);

// Polls and shows records until `stop` (OK) or a fatal consumer error (returned); refreshes the
// lag and assignment figures every second.
absl::Status FeedUntilStopped(std::stop_token stop, Consumer& consumer, LiveFeed& feed,
                              const Metrics& metrics, const std::string& video_topic);

}  // namespace messagecorps::services
