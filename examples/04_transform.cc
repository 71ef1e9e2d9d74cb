// 04 — consume → transform → produce on the router.
//
// A tiny "prediction service": every Image on VideoStream becomes a Prediction on Predictions
// ("bright" or "dark" from the mean pixel value). The Prediction inherits the frame's trace id and
// records its span as parent — the router does that by default. Offsets are committed only after
// the Prediction is safely stored; a frame the handler cannot take goes to VideoStream.DLQ.
//
// Runs on an embedded broker unless MESSAGECORPS_BROKERS is set:
//   build/default/examples/example_04_transform [FRAMES]
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "messagecorps/consumer.h"
#include "messagecorps/embedded_broker.h"
#include "messagecorps/producer.h"
#include "messagecorps/router.h"
#include "messagecorps/seed_topics.h"

namespace mc = messagecorps;
using namespace std::chrono_literals;

// The "model": mean of the raw pixel bytes.
static absl::StatusOr<std::vector<mc::Outgoing>> Classify(const protobuf::data::Image& image,
                                                          const mc::ReceivedMessage&) {
  if (image.image_data().empty()) return absl::InvalidArgumentError("frame has no pixels");
  uint64_t sum = 0;
  for (unsigned char c : image.image_data()) sum += c;
  const bool bright = sum / image.image_data().size() >= 128;
  protobuf::predictions::Prediction prediction;
  prediction.set_frame(image.frame());
  prediction.add_object(bright ? "bright" : "dark");
  prediction.set_model_name("mean-brightness");
  std::vector<mc::Outgoing> out;
  out.push_back(mc::Outgoing::Of(mc::seed::Predictions(), std::move(prediction)));
  return out;
}

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::atoi(argv[1]) : 10;
  std::unique_ptr<mc::EmbeddedBroker> embedded;
  const char* env = std::getenv("MESSAGECORPS_BROKERS");
  std::string brokers = env ? env : "";
  if (brokers.empty()) {
    embedded = mc::EmbeddedBroker::Start().value();
    for (const char* t : {"VideoStream", "Predictions", "VideoStream.DLQ"}) {
      (void)embedded->CreateTopic(t, 2);
    }
    brokers = embedded->bootstrap_servers();
  }

  // The camera: frames alternating dark and bright.
  mc::ProducerConfig pc;
  pc.brokers = brokers;
  pc.envelope = mc::EnvelopeSettings{"camera", protobuf::common::DEVELOPMENT};
  auto camera = mc::Producer::Create(pc).value();
  protobuf::data::Image image;
  image.set_width(8);
  image.set_height(8);
  for (int i = 0; i < frames; ++i) {
    image.set_frame(i);
    image.set_image_data(std::string(8 * 8 * 3, i % 2 ? '\xf0' : '\x10'));
    image.mutable__message_data()->clear_trace_id();
    if (auto s = camera->Send(mc::seed::VideoStream(), image); !s.ok()) {
      std::fprintf(stderr, "send: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  (void)camera->Flush(10s);

  // The service.
  mc::RouterConfig rc;
  rc.client.brokers = brokers;
  rc.consumer.group_id = "brightness";
  rc.consumer.start = mc::StartOffset::kEarliest;
  rc.producer.envelope = mc::EnvelopeSettings{"brightness", protobuf::common::DEVELOPMENT};
  mc::Router router(rc);
  (void)router.Use(mc::middleware::Retry(3, 50ms, 500ms));
  if (auto s = router.Handle("classify", mc::seed::VideoStream(), Classify); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::jthread service([&](std::stop_token stop) {
    if (auto s = router.Run(stop); !s.ok())
      std::fprintf(stderr, "router: %s\n", s.ToString().c_str());
  });

  // The display: read the predictions back.
  mc::ConsumerConfig cc;
  cc.brokers = brokers;
  cc.topics = {"Predictions"};
  cc.group_id = "display";
  cc.start = mc::StartOffset::kEarliest;
  auto display = mc::Consumer::Create(cc).value();
  int seen = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 60s;
       seen < frames && std::chrono::steady_clock::now() < deadline;) {
    auto batch = display->Poll(200ms);
    if (!batch.ok()) {
      std::fprintf(stderr, "poll: %s\n", batch.status().ToString().c_str());
      break;
    }
    for (const auto& m : *batch) {
      const auto* p = m.As<protobuf::predictions::Prediction>();
      if (p == nullptr) continue;
      ++seen;
      std::printf("frame %2lld: %-6s trace %s parent span %s\n", static_cast<long long>(p->frame()),
                  p->object(0).c_str(), p->_message_data().trace_id().c_str(),
                  p->_message_data().parent_span_id().c_str());
    }
  }
  service.request_stop();
  service.join();
  auto stats = router.Stats();
  std::printf("router: received %llu, handled %llu, dead-lettered %llu; %d predictions seen\n",
              static_cast<unsigned long long>(stats.received),
              static_cast<unsigned long long>(stats.handled),
              static_cast<unsigned long long>(stats.dead_lettered), seen);
  return seen == frames ? 0 : 1;
}
