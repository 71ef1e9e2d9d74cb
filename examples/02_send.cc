// 02 — the original's send example: stamp and send Image frames to VideoStream.
//
//   export MESSAGECORPS_BROKERS=host:port LOG_TAG_SERVICE=camera ENVIRONMENT=DEVELOPMENT
//   build/default/examples/example_02_send [COUNT]
// The envelope's service and environment come from LOG_TAG_SERVICE / ENVIRONMENT, as in the original.
#include <cstdio>
#include <cstdlib>

#include "messagecorps/producer.h"
#include "messagecorps/seed_topics.h"

namespace mc = messagecorps;

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 5;
  mc::ProducerConfig config;  // brokers from MESSAGECORPS_BROKERS
  config.on_delivery = [](const mc::DeliveryReport& r) {
    if (r.status.ok()) {
      std::printf("delivered %s to %s[%d]@%lld\n", r.uuid.c_str(), r.topic.c_str(), r.partition,
                  static_cast<long long>(r.offset));
    } else {
      std::fprintf(stderr, "NOT delivered %s: %s\n", r.uuid.c_str(), r.status.ToString().c_str());
    }
  };
  auto producer = mc::Producer::Create(config);
  if (!producer.ok()) {
    std::fprintf(stderr, "%s\n", producer.status().ToString().c_str());
    return 2;
  }
  const auto video = mc::seed::VideoStream();
  protobuf::data::Image image;
  image.set_width(640);
  image.set_height(480);
  image.set_image_data("test image data bytes");
  for (int i = 0; i < count; ++i) {
    image.set_frame(i);
    image.mutable__message_data()->clear_trace_id();
    if (auto s = (*producer)->Send(video, image); !s.ok()) {
      std::fprintf(stderr, "send failed: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  return (*producer)->Flush(std::chrono::seconds(30)).ok() ? 0 : 1;
}
