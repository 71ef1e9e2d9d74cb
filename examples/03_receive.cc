// 03 — the original's receive example: consume VideoStream, decoded to Image.
//
//   MESSAGECORPS_BROKERS=host:port LOG_TAG_GROUP=display build/default/examples/example_03_receive [N]
// Group from LOG_TAG_GROUP (else "NOTSET"), as in the original; starts at the earliest offset.
#include <cstdio>
#include <cstdlib>

#include "messagecorps/consumer.h"
#include "messagecorps/seed_topics.h"

namespace mc = messagecorps;
using namespace std::chrono_literals;

int main(int argc, char** argv) {
  const int want = argc > 1 ? std::atoi(argv[1]) : 5;
  mc::ConsumerConfig config;
  config.topics = {mc::seed::kVideoStream};
  config.start = mc::StartOffset::kEarliest;
  auto consumer = mc::Consumer::Create(config);
  if (!consumer.ok()) {
    std::fprintf(stderr, "%s\n", consumer.status().ToString().c_str());
    return 2;
  }
  int got = 0;
  for (int polls = 0; got < want && polls < 150; ++polls) {
    auto batch = (*consumer)->Poll(200ms);
    if (!batch.ok()) {
      std::fprintf(stderr, "%s\n", batch.status().ToString().c_str());
      return 1;
    }
    for (const auto& m : *batch) {
      if (const auto* image = m.As<protobuf::data::Image>()) {
        ++got;
        std::printf("frame %lld uuid %s time %s offset %lld partition %lld\n",
                    static_cast<long long>(image->frame()), image->_message_data().uuid().c_str(),
                    image->_message_data().iso_date().c_str(),
                    static_cast<long long>(image->_message_data().offset()),
                    static_cast<long long>(image->_message_data().partition()));
      } else {
        std::fprintf(stderr, "undecodable record: %s\n", m.decode_status().ToString().c_str());
      }
    }
  }
  return got >= want ? 0 : 1;
}
