// 01 — a typed round trip of the seed's Image messages.
//
// Starts an embedded broker (unless MESSAGECORPS_BROKERS points at a real cluster), sends ten
// `protobuf.data.Image` frames to the seed topic `VideoStream` with the original's envelope and seed
// (zlib) encoding, and receives them back decoded, with offset and partition filled in.
//
//   build/default/examples/example_01_round_trip [COUNT]
#include <cstdio>
#include <cstdlib>
#include <memory>

#include "messagecorps/consumer.h"
#include "messagecorps/embedded_broker.h"
#include "messagecorps/producer.h"
#include "messagecorps/seed_topics.h"

using namespace std::chrono_literals;
namespace mc = messagecorps;

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 10;
  std::unique_ptr<mc::EmbeddedBroker> embedded;
  std::string brokers = std::getenv("MESSAGECORPS_BROKERS") ? std::getenv("MESSAGECORPS_BROKERS") : "";
  if (brokers.empty()) {
    auto started = mc::EmbeddedBroker::Start();
    if (!started.ok()) {
      std::fprintf(stderr, "embedded broker: %s\n", started.status().ToString().c_str());
      return 1;
    }
    embedded = std::move(*started);
    (void)embedded->CreateTopic(mc::seed::kVideoStream, 4);
    brokers = embedded->bootstrap_servers();
    std::printf("embedded broker at %s\n", brokers.c_str());
  }

  mc::ProducerConfig pc;
  pc.brokers = brokers;
  pc.envelope = mc::EnvelopeSettings{"example-camera", protobuf::common::DEVELOPMENT};
  auto producer = mc::Producer::Create(pc);
  if (!producer.ok()) {
    std::fprintf(stderr, "producer: %s\n", producer.status().ToString().c_str());
    return 1;
  }
  const auto video = mc::seed::VideoStream();
  protobuf::data::Image image;
  image.set_width(4);
  image.set_height(2);
  image.set_image_data(std::string(4 * 2 * 3, '\x40'));  // a tiny raw RGB frame
  for (int i = 0; i < count; ++i) {
    image.set_frame(i);
    image.mutable__message_data()->clear_trace_id();  // each frame starts its own trace
    auto report = (*producer)->SendSync(video, image);
    if (!report.ok()) {
      std::fprintf(stderr, "send: %s\n", report.status().ToString().c_str());
      return 1;
    }
    std::printf("sent     frame %2lld  trace %s  -> partition %d offset %lld\n",
                static_cast<long long>(image.frame()), image._message_data().trace_id().c_str(),
                report->partition, static_cast<long long>(report->offset));
  }

  mc::ConsumerConfig cc;
  cc.brokers = brokers;
  cc.topics = {mc::seed::kVideoStream};
  cc.group_id = "example-display";
  cc.start = mc::StartOffset::kEarliest;
  auto consumer = mc::Consumer::Create(cc);
  if (!consumer.ok()) {
    std::fprintf(stderr, "consumer: %s\n", consumer.status().ToString().c_str());
    return 1;
  }
  int received = 0;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (received < count && std::chrono::steady_clock::now() < deadline) {
    auto batch = (*consumer)->Poll(200ms);
    if (!batch.ok()) {
      std::fprintf(stderr, "poll: %s\n", batch.status().ToString().c_str());
      return 1;
    }
    for (const auto& m : *batch) {
      const auto* img = m.As<protobuf::data::Image>();
      if (img == nullptr) {
        std::printf("undecodable record at %d/%lld: %s\n", m.partition(),
                    static_cast<long long>(m.offset()), m.decode_status().ToString().c_str());
        continue;
      }
      ++received;
      std::printf("received frame %2lld  %dx%d  trace %s  uuid %s  partition %lld offset %lld\n",
                  static_cast<long long>(img->frame()), img->width(), img->height(),
                  img->_message_data().trace_id().c_str(), img->_message_data().uuid().c_str(),
                  static_cast<long long>(img->_message_data().partition()),
                  static_cast<long long>(img->_message_data().offset()));
    }
  }
  (void)(*consumer)->Close(5s);
  std::printf("%d of %d frames went through\n", received, count);
  return received == count ? 0 : 1;
}
