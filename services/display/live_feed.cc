#include "display/live_feed.h"

#include <algorithm>

#include "fmt/format.h"

namespace messagecorps::services {
namespace {

constexpr size_t kTracesKept = 1024;

std::string SseEvent(std::string_view name, const nlohmann::json& data) {
  return fmt::format("event: {}\ndata: {}\n\n", name, data.dump());
}

}  // namespace

std::string Base64(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const uint32_t v = (static_cast<uint8_t>(bytes[i]) << 16) |
                       (static_cast<uint8_t>(bytes[i + 1]) << 8) |
                       static_cast<uint8_t>(bytes[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
    out += kAlphabet[v & 63];
  }
  if (i < bytes.size()) {
    uint32_t v = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) v |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < bytes.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool Subscriber::Next(std::string* event, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty(); })) return false;
  if (queue_.empty()) return false;
  *event = std::move(queue_.front().first);
  queue_.pop_front();
  return true;
}

void Subscriber::Push(std::string event, bool droppable) {
  {
    std::lock_guard lock(mu_);
    if (closed_) return;
    if (queue_.size() >= max_queue_) {
      // Drop the oldest droppable event (a frame): predictions and stats are small and matter.
      auto it = std::find_if(queue_.begin(), queue_.end(), [](const auto& e) { return e.second; });
      if (it != queue_.end()) {
        queue_.erase(it);
        dropped_.fetch_add(1);
      }
    }
    queue_.emplace_back(std::move(event), droppable);
  }
  cv_.notify_one();
}

void Subscriber::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool Subscriber::closed() const {
  std::lock_guard lock(mu_);
  return closed_;
}

LiveFeed::LiveFeed(size_t max_queue_per_client, WallClock now)
    : max_queue_(max_queue_per_client), now_(std::move(now)) {}

double LiveFeed::Now() const {
  if (now_) return now_();
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void LiveFeed::OnFrame(const protobuf::data::Image& image, std::string_view trace_id,
                       std::string jpeg) {
  const double now = Now();
  const double latency_ms = image.capture_time() > 0 ? (now - image.capture_time()) * 1000 : -1;
  frames_total_.fetch_add(1);
  frame_bytes_.fetch_add(jpeg.size());
  frames_.Add();
  if (latency_ms >= 0) {
    latency_ms_.Add(latency_ms);
    latency_ms_run_.Add(latency_ms);
  }
  nlohmann::json meta{{"trace_id", trace_id},
                      {"frame", image.frame()},
                      {"width", image.width()},
                      {"height", image.height()},
                      {"capture_time", image.capture_time()},
                      {"source", image.source()},
                      {"latency_ms", latency_ms}};
  nlohmann::json event = meta;
  event["jpeg"] = Base64(jpeg);
  const std::string sse = SseEvent("frame", event);
  {
    std::lock_guard lock(mu_);
    latest_jpeg_ = std::move(jpeg);
    last_frame_ = std::move(meta);
    if (!trace_id.empty()) {
      auto [it, inserted] = capture_by_trace_.emplace(std::string(trace_id), image.capture_time());
      if (inserted) trace_order_.push_back(it->first);
      while (trace_order_.size() > kTracesKept) {
        capture_by_trace_.erase(trace_order_.front());
        trace_order_.pop_front();
      }
    }
  }
  Broadcast(sse, /*droppable=*/true);
}

void LiveFeed::OnInvalidFrame(std::string_view why) {
  invalid_frames_.fetch_add(1);
  Broadcast(SseEvent("invalid", {{"error", why}}), true);
}

void LiveFeed::OnPrediction(const protobuf::predictions::Prediction& prediction,
                            std::string_view trace_id) {
  const double now = Now();
  predictions_total_.fetch_add(1);
  predictions_.Add();
  nlohmann::json detections = nlohmann::json::array();
  for (const auto& d : prediction.detections()) {
    detections.push_back({{"label", d.label()},
                          {"score", d.score()},
                          {"x", d.box().x()},
                          {"y", d.box().y()},
                          {"w", d.box().width()},
                          {"h", d.box().height()},
                          {"model", d.model()}});
  }
  double latency_ms = -1;
  {
    std::lock_guard lock(mu_);
    auto it = capture_by_trace_.find(std::string(trace_id));
    if (it != capture_by_trace_.end() && it->second > 0) {
      latency_ms = (now - it->second) * 1000;
    }
  }
  if (latency_ms >= 0) {
    predictions_matched_.fetch_add(1);
    prediction_latency_ms_.Add(latency_ms);
  }
  nlohmann::json event{
      {"trace_id", trace_id},
      {"frame", prediction.frame()},
      {"objects", std::vector<std::string>(prediction.object().begin(), prediction.object().end())},
      {"detections", std::move(detections)},
      {"model", prediction.model_name()},
      {"inference_ms", prediction.inference_ms()},
      {"latency_ms", latency_ms},
      {"width", prediction.frame_width()},
      {"height", prediction.frame_height()}};
  {
    std::lock_guard lock(mu_);
    last_prediction_ = event;
  }
  Broadcast(SseEvent("prediction", event), /*droppable=*/false);
}

void LiveFeed::SetLag(std::map<std::string, int64_t> lag_by_topic) {
  std::lock_guard lock(mu_);
  lag_ = std::move(lag_by_topic);
}

std::shared_ptr<Subscriber> LiveFeed::Subscribe() {
  auto s = std::make_shared<Subscriber>(max_queue_);
  std::lock_guard lock(mu_);
  subscribers_.insert(s);
  return s;
}

void LiveFeed::Unsubscribe(const std::shared_ptr<Subscriber>& subscriber) {
  subscriber->Close();
  std::lock_guard lock(mu_);
  dropped_for_gone_clients_ += subscriber->dropped();
  subscribers_.erase(subscriber);
}

void LiveFeed::CloseAll() {
  std::lock_guard lock(mu_);
  for (const auto& s : subscribers_) s->Close();
}

void LiveFeed::Broadcast(const std::string& event, bool droppable) {
  std::lock_guard lock(mu_);
  for (const auto& s : subscribers_) s->Push(event, droppable);
}

std::optional<std::string> LiveFeed::LatestJpeg() const {
  std::lock_guard lock(mu_);
  return latest_jpeg_;
}

nlohmann::json LiveFeed::Stats() const {
  nlohmann::json lag = nlohmann::json::object();
  nlohmann::json last_frame, last_prediction;
  size_t clients;
  uint64_t dropped;
  {
    std::lock_guard lock(mu_);
    for (const auto& [topic, n] : lag_) lag[topic] = n;
    last_frame = last_frame_;
    last_prediction = last_prediction_;
    clients = subscribers_.size();
    dropped = dropped_for_gone_clients_;
    for (const auto& s : subscribers_) dropped += s->dropped();
  }
  const uint64_t frames = frames_total_.load();
  return {{"service", "display"},
          {"uptime_s",
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count()},
          {"assigned_partitions", assigned_.load()},
          {"frames",
           {{"received", frames},
            {"invalid", invalid_frames_.load()},
            {"fps", frames_.Rate()},
            {"mean_jpeg_bytes", frames ? frame_bytes_.load() / frames : 0}}},
          {"latency_ms",
           {{"p50", latency_ms_.Percentile(50)},
            {"p99", latency_ms_.Percentile(99)},
            {"mean", latency_ms_.Mean()},
            {"run_p50", latency_ms_run_.Percentile(50)},
            {"run_p99", latency_ms_run_.Percentile(99)},
            {"run_max", latency_ms_run_.Percentile(100)},
            {"run_samples", latency_ms_run_.Count()}}},
          {"predictions",
           {{"received", predictions_total_.load()},
            {"matched_to_frames", predictions_matched_.load()},
            {"per_second", predictions_.Rate()},
            {"latency_ms_p50", prediction_latency_ms_.Percentile(50)},
            {"latency_ms_p99", prediction_latency_ms_.Percentile(99)}}},
          {"consumer_lag", lag},
          {"clients", clients},
          {"dropped_for_slow_clients", dropped},
          {"last_frame", last_frame},
          {"last_prediction", last_prediction.is_object() && last_prediction.contains("objects")
                                  ? nlohmann::json{{"frame", last_prediction["frame"]},
                                                   {"trace_id", last_prediction["trace_id"]},
                                                   {"objects", last_prediction["objects"]}}
                                  : nlohmann::json::object()}};
}

std::string LiveFeed::PrometheusText() const {
  std::string out;
  auto gauge = [&](std::string_view name, std::string_view help, double value,
                   std::string_view labels = {}) {
    out += fmt::format("# HELP messagecorps_display_{} {}\n# TYPE messagecorps_display_{} gauge\n",
                       name, help, name);
    out +=
        fmt::format("messagecorps_display_{}{{service=\"display\"{}}} {}\n", name, labels, value);
  };
  gauge("frames_per_second", "Frames received per second (5 s window)", frames_.Rate());
  gauge("latency_p50_milliseconds", "Capture to display latency, median (10 s window)",
        latency_ms_.Percentile(50));
  gauge("latency_p99_milliseconds", "Capture to display latency, 99th percentile (10 s window)",
        latency_ms_.Percentile(99));
  gauge("predictions_per_second", "Predictions received per second (5 s window)",
        predictions_.Rate());
  gauge("frames_received", "Frames received since start",
        static_cast<double>(frames_total_.load()));
  std::lock_guard lock(mu_);
  if (!lag_.empty()) {
    out += "# HELP messagecorps_display_consumer_lag Records not yet read, per topic\n";
    out += "# TYPE messagecorps_display_consumer_lag gauge\n";
    for (const auto& [topic, n] : lag_) {
      out += fmt::format(
          "messagecorps_display_consumer_lag{{service=\"display\",topic=\"{}\"}} {}\n", topic, n);
    }
  }
  return out;
}

}  // namespace messagecorps::services
